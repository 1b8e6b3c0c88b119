#include "agent/data_plane.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>

#include "absl/strings/str_cat.h"

namespace rstmesh {

DataPlane::DataPlane(int threads) : work_(asio::make_work_guard(io_)) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
}

DataPlane::~DataPlane() { Stop(); }

absl::StatusOr<std::string> DataPlane::SetCapture(const std::string& mode) {
  if (mode == "off") {
    capture_.reset();
    capture_note_.clear();
    return std::string("off");
  }
  if (mode != "on" && mode != "auto") {
    return absl::InvalidArgumentError(
        absl::StrCat("--capture-packets: '", mode, "' is not one of on, auto, off"));
  }
  absl::StatusOr<std::unique_ptr<PacketCapture>> opened = PacketCapture::Open();
  if (!opened.ok()) {
    if (mode == "on") {
      return absl::Status(opened.status().code(),
                          absl::StrCat("--capture-packets on: ", opened.status().message()));
    }
    capture_note_ = absl::StrCat("unsupported: ", opened.status().message(),
                                 " (deploy/components/packet-capture)");
    return capture_note_;
  }
  capture_ = *std::move(opened);
  capture_note_.clear();
  return std::string("on");
}

asio::awaitable<void> DataPlane::AddEvidence(v1::Observation& obs) {
  if (obs.matched()) co_return;
  if (capture_ != nullptr) {
    co_await capture_->Attach(obs);
  } else if (!capture_note_.empty()) {
    obs.mutable_evidence()->set_note(capture_note_);
  }
}

asio::awaitable<v1::Observation> DataPlane::Initiate(Task task) {
  v1::Observation obs = co_await RunInitiator(std::move(task));
  co_await AddEvidence(obs);
  co_return obs;
}

absl::Status DataPlane::StartResponder(ResponderOptions options,
                                       Responder::ObservationCallback on_observation) {
  if (responder_ != nullptr) return absl::FailedPreconditionError("responder already started");
  if (capture_ != nullptr || !capture_note_.empty()) {
    options.add_evidence = [this](v1::Observation& obs) { return AddEvidence(obs); };
  }
  auto responder = std::make_unique<Responder>(io_, std::move(options), std::move(on_observation));
  if (absl::Status started = responder->Start(); !started.ok()) return started;
  responder_ = std::move(responder);
  return absl::OkStatus();
}

std::future<v1::Observation> DataPlane::RunTask(Task task) {
  auto promise = std::make_shared<std::promise<v1::Observation>>();
  std::future<v1::Observation> future = promise->get_future();
  asio::co_spawn(asio::make_strand(io_), Initiate(std::move(task)),
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
  asio::co_spawn(asio::make_strand(io_), Initiate(std::move(task)),
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
