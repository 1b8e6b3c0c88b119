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
#include "agent/packet_capture.h"
#include "agent/responder.h"

namespace rstmesh {

class DataPlane {
 public:
  explicit DataPlane(int threads = 1);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // Packet evidence for deviating observations: "on" (an error when the capture cannot be
  // opened), "auto" (on where permitted; otherwise deviations say why there are no packets),
  // or "off". Call before StartResponder. Returns what was chosen, for the log.
  absl::StatusOr<std::string> SetCapture(const std::string& mode);

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
  // The initiator role, then the evidence.
  asio::awaitable<v1::Observation> Initiate(Task task);
  asio::awaitable<void> AddEvidence(v1::Observation& obs);

  asio::io_context io_;
  std::unique_ptr<PacketCapture> capture_;
  std::string capture_note_;  // why deviations carry no packets
  std::unique_ptr<Responder> responder_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace rstmesh
