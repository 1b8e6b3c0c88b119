// Waiting on a condition with a deadline: the only way tests here wait.
#pragma once

#include <chrono>
#include <thread>

namespace rstmesh::testing {

// Polls `pred` every `interval` until it holds or `timeout` passes. Returns whether it
// held. (A longer interval where each poll costs the process being measured: an RPC.)
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval = std::chrono::milliseconds(2)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(interval);
  }
  return true;
}

}  // namespace rstmesh::testing
