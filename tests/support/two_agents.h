// Two agents' real data planes in one process: agent A initiates from `source`, agent B
// responds on `responder_address`. B's observations are collected by task id.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/data_plane.h"
#include "tests/support/wait_for.h"

namespace rstmesh::testing {

class TwoAgents {
 public:
  // Starts B's responder on port 0 (both ports). Fails the test if it cannot.
  TwoAgents(const std::string& source, const std::string& responder_address,
            ResponderOptions options = {});
  ~TwoAgents();

  // A task from A to B with fresh task id and the given scenario.
  Task MakeTask(v1::Scenario scenario, v1::ScenarioParams params = {});
  std::future<v1::Observation> Run(Task task) { return a_.RunTask(std::move(task)); }

  // B's observation of `task_id`, waiting up to `timeout`.
  std::optional<v1::Observation> ResponderObservation(uint64_t task_id,
                                                      std::chrono::milliseconds timeout);
  size_t responder_observation_count();
  Responder& responder() { return *b_.responder(); }
  bool started() const { return started_; }

 private:
  DataPlane a_;
  DataPlane b_;
  std::optional<asio::ip::address> source_;
  bool started_ = false;
  uint64_t next_task_id_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, v1::Observation> observed_;
};

// True when this process may create TCP_REPAIR sockets (root with CAP_NET_ADMIN).
bool CanUseTcpRepair();

}  // namespace rstmesh::testing
