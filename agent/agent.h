// Agent: what `rstmesh-agent run` is. The data plane (responder on the data port, initiator
// tasks) wired to the controller: assignments from the ControllerSession run on the data
// plane, and both roles' observations go back in batches.
//
// Thread-safe: construct, Start(), then Stop() (or destroy) from any thread.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/controller_session.h"
#include "agent/data_plane.h"
#include "agent/stall_watch.h"
#include "security/health_server.h"

namespace rstmesh {

struct AgentOptions {
  std::string id;                             // node name
  std::map<std::string, std::string> labels;  // zone, rack, ...
  std::string controller;                     // host:port
  TlsOptions tls = PlaintextTls();            // to the controller
  std::string health_listen;  // plaintext grpc.health.v1 for Kubernetes probes; "" = none
  std::string advertise;      // address peers reach the data port at; default: the listen address
  ResponderOptions responder;
  int threads = 1;
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();

  // Binds the data ports and starts dialing the controller.
  absl::Status Start();
  void Stop();

  Responder* responder() { return plane_.responder(); }
  const KeyRing& keys() const { return *keys_; }
  int health_port() const { return health_ ? health_->port() : 0; }
  ControllerSession::Stats session_stats() const;
  const std::string& id() const { return options_.id; }

 private:
  // Starts the test, or holds it while the session holds too many unacknowledged
  // observations (the controller cannot store them): paused, never dropped.
  void RunAssignment(const v1::Assignment& assignment);
  void StartAssignment(const v1::Assignment& assignment);
  // Starts what was held, as far as the session has room again.
  void Resume();
  // Whether `task_id` is new to this process (then remembered until its run's key is
  // revoked): the controller re-sends unreported assignments after a reconnect.
  bool FirstAssignment(uint64_t task_id);
  void ForgetRun(uint32_t run_number);

  AgentOptions options_;
  DataPlane plane_;
  std::unique_ptr<ControllerSession> session_;
  std::unique_ptr<HealthServer> health_;
  std::shared_ptr<KeyRing> keys_ = std::make_shared<KeyRing>();
  StallWatch stalls_;  // marks observations made while this process was frozen
  absl::Mutex assigned_mu_;
  std::map<uint32_t, absl::flat_hash_set<uint64_t>> assigned_ ABSL_GUARDED_BY(assigned_mu_);
  std::deque<v1::Assignment> paused_ ABSL_GUARDED_BY(assigned_mu_);
  size_t max_held_ = 0;  // the session's max_unacked
};

}  // namespace rstmesh
