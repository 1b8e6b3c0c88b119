#include "controller/controller.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>

#include <grpcpp/health_check_service_interface.h>
#include "grpc/health/v1/health.grpc.pb.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "controller/postgres_store.h"

namespace rstmesh {

Controller::Controller(ControllerOptions options)
    : options_(std::move(options)),
      registry_(options_.agent_lease, options_.runs.clock,
                AgentRegistry::HeartbeatPolicy{options_.heartbeat_interval,
                                               std::chrono::milliseconds(10000),
                                               options_.max_heartbeats_per_second}) {
  // A restarted controller starts with no agents: they get one lease to come back.
  options_.runs.reconnect_grace = options_.agent_lease;
}

Controller::~Controller() { Stop(); }

absl::Status Controller::Start() {
  absl::StatusOr<std::unique_ptr<Store>> store;
  PostgresStore* postgres = nullptr;
  if (options_.replicated && options_.store_dsn.empty()) {
    return absl::InvalidArgumentError(
        "--replicated: replicas share a PostgreSQL database; give it with --store "
        "postgresql://...");
  }
  if (!options_.store_dsn.empty()) {
    // The database holds its own lock: one controller on it at a time, or replicas only.
    absl::StatusOr<std::unique_ptr<PostgresStore>> opened =
        PostgresStore::Open(options_.store_dsn, options_.replicated);
    if (opened.ok()) postgres = opened->get();
    store = opened.ok() ? absl::StatusOr<std::unique_ptr<Store>>(std::move(*opened))
                        : absl::StatusOr<std::unique_ptr<Store>>(opened.status());
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options_.data_dir, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("--data-dir ", options_.data_dir, ": ", ec.message()));
    }
    // Before the store is opened: a second controller must not even read it.
    absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(options_.data_dir);
    if (!lock.ok()) return lock.status();
    data_dir_lock_ = std::move(*lock);
    const std::string path = options_.data_dir + "/rstmesh.db";
    store = options_.open_store ? options_.open_store(path) : SqliteStore::Open(path);
  }
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials(options_.tls);
  if (!credentials.ok()) return credentials.status();
  const PeerPolicy policy(!options_.tls.insecure, options_.allow_shared_agent_certificate);
  if (options_.replicated) {
    absl::StatusOr<std::unique_ptr<ReplicaLink>> link =
        ReplicaLink::Open(ReplicaLink::Options{options_.store_dsn, options_.replica_name,
                                               options_.listen, options_.run_lease},
                          &registry_);
    if (!link.ok()) return link.status();
    link_ = std::move(*link);
    options_.runs.ownership = link_.get();
    // Observations of this replica's own runs are joined as it stores them: no arrival,
    // while its lease has half of its length left.
    postgres->SetReplica(link_->id(), options_.run_lease / 2);
    registry_.set_on_disconnected([this](const std::string& id) { link_->OnDisconnected(id); });
  }
  runs_ = std::make_unique<RunManager>(store_.get(), &registry_, options_.runs);
  registry_.set_on_lost([this](const std::string& id) { runs_->OnAgentLost(id); });
  registry_.set_on_restarted([this](const std::string& id) { runs_->OnAgentRestarted(id); });
  registry_.set_on_registered([this](const std::string& id) {
    if (link_) link_->OnRegistered(id);
    runs_->OnAgentRegistered(id);
  });
  runs_->set_on_results(
      [this](std::vector<RunManager::RunResults> runs) { metrics_.Update(std::move(runs)); });
  hub_ = std::make_unique<AgentHubService>(
      &registry_,
      [this](const std::string& agent, AgentHubService::Observations& batch,
             AgentHubService::Done done) {
        for (const v1::Observation& obs : batch) metrics_.ObserveArrival(obs);
        runs_->Ingest(agent, batch, std::move(done));
      },
      options_.heartbeat_interval, policy);
  hub_->set_progress_sink([this](const std::string& agent, const v1::ScheduleProgress& progress) {
    runs_->OnProgress(agent, progress);
  });
  control_ =
      std::make_unique<ControlService>(runs_.get(), &registry_, store_.get(), policy, link_.get());
  if (absl::Status started = runs_->Start(); !started.ok()) return started;
  if (link_) link_->Start(runs_.get());
  AuditScheduler::Options audits;
  if (link_) audits.leads = [link = link_.get()] { return link->LeadsAudits(); };
  scheduler_ =
      std::make_unique<AuditScheduler>(store_.get(), runs_.get(), &registry_, std::move(audits));
  control_->set_scheduler(scheduler_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, *credentials, &port_);
  builder.RegisterService(hub_.get());
  builder.RegisterService(control_.get());
  // Reflection answers from the generated descriptor pool; gRPC's health service has no
  // descriptor there, ours (proto/grpc/health) is linked in by naming one of its types.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  reflection_ = std::make_unique<ServerReflectionV1>(std::vector<std::string>{
      v1::AgentHub::service_full_name(), v1::Control::service_full_name(),
      grpc::health::v1::Health::service_full_name(), "grpc.reflection.v1alpha.ServerReflection"});
  builder.RegisterService(reflection_.get());
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  // gRPC sets SO_REUSEPORT by default: a second controller would bind the same port and take
  // half of the calls. Off: it fails to start instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.listen,
        ": another process has this port, or it is not an address of this host",
        options_.tls.insecure ? "" : " (or the TLS certificate and key do not match)"));
  }
  // grpc.health.v1 answers for each service by its name, not only for the server ("").
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(v1::AgentHub::service_full_name(), true);
    health->SetServingStatus(v1::Control::service_full_name(), true);
  }
  if (!options_.health_listen.empty()) {
    absl::StatusOr<std::unique_ptr<HealthServer>> health =
        HealthServer::Start(options_.health_listen);
    if (!health.ok()) return health.status();
    health_ = std::move(*health);
  }
  if (absl::Status started = scheduler_->Start(); !started.ok()) return started;
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

std::string Controller::MetricsText() {
  Metrics::Gauges gauges;
  gauges.agents = registry_.counts();
  gauges.limits = runs_->limit_counts();
  gauges.store = runs_->store_health();
  for (const char* state : {"running", "finished", "cancelled"}) gauges.runs_by_state[state] = 0;
  if (auto runs = store_->ListRuns(); runs.ok()) {
    for (const RunRecord& run : *runs) {
      ++gauges.runs_by_state[std::string(RunStateName(run.state))];
      if (run.state != RunState::kFinished) continue;
      Metrics::Gauges::LastAudit& last = gauges.last_audit_by_plan[run.plan.name()];
      const double finished = run.finished_unix_ms / 1000.0;
      if (finished >= last.finished_unix_s) {
        last = {finished, (run.finished_unix_ms - run.created_unix_ms) / 1000.0};
      }
    }
  }
  return metrics_.Render(gauges) + scheduler_->MetricsText();
}

void Controller::Stop(std::chrono::milliseconds grace) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
  health_.reset();
  if (scheduler_) scheduler_->Stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + grace);
  if (runs_) runs_->Stop();
  // After the run manager's last writes: the runs it owned are taken over at once.
  if (link_) link_->Stop();
}

}  // namespace rstmesh
