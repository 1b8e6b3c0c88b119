#include "controller/controller.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace rstmesh {

Controller::Controller(ControllerOptions options) : options_(std::move(options)) {}

Controller::~Controller() { Stop(); }

absl::Status Controller::Start() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("--data-dir ", options_.data_dir, ": ", ec.message()));
  }
  auto store = SqliteStore::Open(options_.data_dir + "/rstmesh.db");
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  runs_ = std::make_unique<RunManager>(store_.get(), &registry_, options_.runs);
  registry_.set_on_lost([this](const std::string& id) { runs_->OnAgentLost(id); });
  hub_ = std::make_unique<AgentHubService>(
      &registry_,
      [this](const std::string& agent, const std::vector<v1::Observation>& batch) {
        return runs_->OnObservations(agent, batch);
      },
      options_.heartbeat_interval);
  if (absl::Status started = runs_->Start(); !started.ok()) return started;

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(hub_.get());
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  watchdog_ = std::thread([this] { WatchHeartbeats(); });
  return absl::OkStatus();
}

void Controller::WatchHeartbeats() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.agent_timeout / 4));
    mu_.Unlock();
    registry_.ExpireSilent(options_.agent_timeout);
    mu_.Lock();
  }
}

void Controller::Stop(std::chrono::milliseconds grace) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + grace);
  if (runs_) runs_->Stop();
}

}  // namespace rstmesh
