#include "agent/data_plane.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>

namespace rstmesh {

DataPlane::DataPlane(int threads) : work_(asio::make_work_guard(io_)) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
}

DataPlane::~DataPlane() { Stop(); }

absl::Status DataPlane::StartResponder(ResponderOptions options,
                                       Responder::ObservationCallback on_observation) {
  if (responder_ != nullptr) return absl::FailedPreconditionError("responder already started");
  auto responder = std::make_unique<Responder>(io_, std::move(options), std::move(on_observation));
  if (absl::Status started = responder->Start(); !started.ok()) return started;
  responder_ = std::move(responder);
  return absl::OkStatus();
}

std::future<v1::Observation> DataPlane::RunTask(Task task) {
  auto promise = std::make_shared<std::promise<v1::Observation>>();
  std::future<v1::Observation> future = promise->get_future();
  asio::co_spawn(asio::make_strand(io_), RunInitiator(std::move(task)),
                 [promise](std::exception_ptr error, v1::Observation obs) {
                   if (error) {
                     promise->set_exception(error);
                   } else {
                     promise->set_value(std::move(obs));
                   }
                 });
  return future;
}

void DataPlane::RunTask(Task task, std::function<void(v1::Observation)> done) {
  asio::co_spawn(asio::make_strand(io_), RunInitiator(std::move(task)),
                 [done = std::move(done)](std::exception_ptr error, v1::Observation obs) {
                   if (!error) done(std::move(obs));
                 });
}

void DataPlane::Stop() {
  work_.reset();
  io_.stop();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace rstmesh
