// Agent: what `rstmesh-agent run` is. The data plane (responder on the data port, initiator
// tasks) wired to the controller: the schedules the ControllerSession receives run on the
// ScheduleRunner, which starts their tests on the data plane, and both roles' observations
// go back in batches.
//
// Thread-safe: construct, Start(), then Stop() (or destroy) from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "agent/agent_metrics.h"
#include "agent/controller_session.h"
#include "agent/data_plane.h"
#include "agent/schedule_runner.h"
#include "agent/stall_watch.h"
#include "security/health_server.h"
#include "telemetry/http_endpoint.h"

namespace rstmesh {

struct AgentOptions {
  std::string id;                             // node name
  std::map<std::string, std::string> labels;  // zone, rack, ...
  std::string controller;                     // host:port
  TlsOptions tls = PlaintextTls();            // to the controller
  std::string health_listen;   // plaintext grpc.health.v1 for Kubernetes probes; "" = none
  std::string metrics_listen;  // HTTP /metrics (Prometheus) and /healthz; "" = none
  std::string advertise;       // address peers reach the data port at; default: the listen address
  ResponderOptions responder;
  int threads = 1;
  // Packet evidence of deviations: on, auto (where CAP_NET_RAW permits), off.
  std::string capture_packets = "off";
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
  int metrics_port() const { return metrics_endpoint_ ? metrics_endpoint_->port() : 0; }
  // The Prometheus text of /metrics.
  std::string MetricsText();
  ControllerSession::Stats session_stats() const;
  // Tests this agent's schedules have under way.
  int running() const { return runner_ ? runner_->running() : 0; }
  const std::string& id() const { return options_.id; }

 private:
  // Counts an observation for /metrics and hands it to the controller session.
  void Report(v1::Observation obs);
  // Starts one test of a schedule on the data plane; `done` when it reported.
  void StartTest(ScheduledTest test, ScheduleRunner::Done done);

  AgentOptions options_;
  DataPlane plane_;
  std::unique_ptr<ControllerSession> session_;
  // Schedules pause (never drop) while the session holds too many unacknowledged
  // observations (the controller cannot store them).
  std::unique_ptr<ScheduleRunner> runner_;
  std::unique_ptr<HealthServer> health_;
  AgentMetrics metrics_;
  std::unique_ptr<HttpEndpoint> metrics_endpoint_;
  std::shared_ptr<KeyRing> keys_ = std::make_shared<KeyRing>();
  StallWatch stalls_;  // marks observations made while this process was frozen
};

}  // namespace rstmesh
