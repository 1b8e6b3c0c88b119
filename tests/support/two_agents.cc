#include "tests/support/two_agents.h"

#include <gtest/gtest.h>

#include "core/socket_look.h"

namespace rstmesh::testing {

TwoAgents::TwoAgents(const std::string& source, const std::string& responder_address,
                     ResponderOptions options)
    : a_(1), b_(1) {
  if (!source.empty()) source_ = asio::ip::make_address(source);
  options.listen = asio::ip::make_address(responder_address);
  options.data_port = 0;
  options.closed_port = 0;
  absl::Status status = b_.StartResponder(options, [this](v1::Observation obs) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t id = obs.task_id();
    observed_.emplace(id, std::move(obs));
    cv_.notify_all();
  });
  EXPECT_TRUE(status.ok()) << status;
  started_ = status.ok();
}

TwoAgents::~TwoAgents() {
  a_.Stop();
  b_.Stop();
}

Task TwoAgents::MakeTask(v1::Scenario scenario, v1::ScenarioParams params) {
  Task task;
  task.task_id = next_task_id_++;
  task.scenario = scenario;
  task.peer = b_.responder()->data_endpoint();
  task.closed_port = b_.responder()->closed_endpoint().port();
  task.source = source_;
  task.params = std::move(params);
  return task;
}

std::optional<v1::Observation> TwoAgents::ResponderObservation(uint64_t task_id,
                                                               std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return observed_.count(task_id) > 0; })) {
    return std::nullopt;
  }
  return observed_.at(task_id);
}

size_t TwoAgents::responder_observation_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_.size();
}

bool CanUseTcpRepair() { return TcpRepairPermitted(); }

}  // namespace rstmesh::testing
