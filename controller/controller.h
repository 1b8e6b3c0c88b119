// Controller: the store, the fleet registry, the run manager and the gRPC server with the
// AgentHub service, wired together. What `rstmesh-controller` runs, and what tests start
// on port 0.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controller/agent_hub_service.h"
#include "controller/agent_registry.h"
#include "controller/audit_scheduler.h"
#include "controller/control_service.h"
#include "controller/data_dir_lock.h"
#include "controller/metrics.h"
#include "controller/replica_link.h"
#include "controller/run_manager.h"
#include "controller/server_reflection.h"
#include "controller/sqlite_store.h"
#include "security/health_server.h"
#include "security/tls.h"

namespace rstmesh {

// The largest gRPC message the controller takes (a plan, a batch of observations).
inline constexpr int kMaxGrpcMessageBytes = 4 << 20;

struct ControllerOptions {
  std::string listen = "127.0.0.1:7400";  // host:port; port 0 picks one
  // Plaintext unless set: in-process controllers (tests, demo) choose; the binary demands
  // certificates or an explicit --insecure.
  TlsOptions tls = PlaintextTls();
  // Accept the shared agent certificate (CN agent:*) for any agent id: the mtls overlay's
  // DaemonSet mounts one Secret on every node. Per-agent certificates are checked either way.
  bool allow_shared_agent_certificate = false;
  std::string health_listen;  // plaintext grpc.health.v1 only (Kubernetes probes); "" = none
  std::string data_dir;       // holds rstmesh.db (the SQLite store)
  // A PostgreSQL DSN ("postgresql://user@host/db?sslmode=verify-full"): the store is that
  // database instead of data_dir's SQLite file.
  std::string store_dsn;
  // One of several replicas on store_dsn (controller/replica_link.h): runs are owned through
  // leases, agents and operators may use any replica.
  bool replicated = false;
  std::string replica_name = "controller";  // its id is this and a random suffix
  // A run whose owner has not renewed its lease for this long is taken over by another.
  std::chrono::milliseconds run_lease{10000};
  // Agents heartbeat at least this far apart; a large fleet shares
  // max_heartbeats_per_second among its members (each beats at most every 10 s).
  std::chrono::milliseconds heartbeat_interval{1000};
  double max_heartbeats_per_second = 1000;
  // Silent longer than agent_timeout: the agent's stream is closed (it is disconnected).
  // Unreachable longer than agent_lease: it is lost and its open tasks end. A reconnect
  // inside the lease changes nothing.
  std::chrono::milliseconds agent_timeout{5000};
  std::chrono::milliseconds agent_lease{30000};
  RunManager::Options runs;
  // Opens the store at a path; null: SqliteStore::Open. Benchmarks wrap the real store.
  std::function<absl::StatusOr<std::unique_ptr<Store>>(const std::string& path)> open_store;
};

class Controller {
 public:
  explicit Controller(ControllerOptions options);
  ~Controller();

  // Opens the store, resumes runs, starts serving. kUnavailable if the port is taken.
  absl::Status Start();
  // Stops serving (in-flight RPCs get `grace`), then the scheduler.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  int port() const { return port_; }
  int health_port() const { return health_ ? health_->port() : 0; }
  // The Prometheus text of /metrics.
  std::string MetricsText();
  RunManager& runs() { return *runs_; }
  // This replica's id ("" for a controller on its own).
  std::string replica_id() const { return link_ ? link_->id() : ""; }
  AgentRegistry& registry() { return registry_; }
  Store& store() { return *store_; }

 private:
  void WatchHeartbeats();

  ControllerOptions options_;
  std::unique_ptr<DataDirLock> data_dir_lock_;  // released last: after the store closes
  std::unique_ptr<Store> store_;
  AgentRegistry registry_;
  std::unique_ptr<ReplicaLink> link_;  // with --replicated
  std::unique_ptr<RunManager> runs_;
  std::unique_ptr<AgentHubService> hub_;
  std::unique_ptr<ControlService> control_;
  std::unique_ptr<AuditScheduler> scheduler_;       // continuous audits
  std::unique_ptr<ServerReflectionV1> reflection_;  // v1; v1alpha is gRPC's plugin
  Metrics metrics_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HealthServer> health_;
  int port_ = 0;
  std::thread watchdog_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rstmesh
