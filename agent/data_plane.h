// DataPlane: one agent's Boost.Asio data plane: an io_context on its own threads, the
// responder on it, and a way for other threads to run initiator tasks on it.
//
// Thread-safe. Stop() (or the destructor) stops the io_context and joins its threads
// before the responder is destroyed, so no coroutine outlives what it uses.
#pragma once

#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "agent/initiator.h"
#include "agent/responder.h"

namespace rstmesh {

class DataPlane {
 public:
  explicit DataPlane(int threads = 1);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // Starts this agent's responder. Call at most once.
  absl::Status StartResponder(ResponderOptions options,
                              Responder::ObservationCallback on_observation);
  // Null until StartResponder succeeded.
  Responder* responder() { return responder_.get(); }

  // Runs one initiator task on the data plane; the future holds its observation.
  std::future<v1::Observation> RunTask(Task task);
  // The same, calling `done` on an io thread instead.
  void RunTask(Task task, std::function<void(v1::Observation)> done);

  asio::io_context& io() { return io_; }
  void Stop();

 private:
  asio::io_context io_;
  std::unique_ptr<Responder> responder_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace rstmesh
