// Waiting on a condition with a deadline: the only way tests here wait.
#pragma once

#include <chrono>
#include <thread>

namespace rstmesh::testing {

// Polls `pred` until it holds or `timeout` passes. Returns whether it held.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace rstmesh::testing
