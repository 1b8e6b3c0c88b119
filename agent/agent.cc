#include "agent/agent.h"

#include <grpcpp/grpcpp.h>

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/endpoint.h"
#include "core/task_id.h"
#include "telemetry/exposition.h"

namespace rstmesh {
namespace {

// The kernel's boot id and this process's network namespace (its inode).
std::string HostIncarnation() {
  std::string boot_id;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot_id;
  struct stat ns {};
  const bool has_ns = stat("/proc/self/ns/net", &ns) == 0;
  return absl::StrCat(boot_id, "/netns:", has_ns ? ns.st_ino : 0);
}

}  // namespace

Agent::Agent(AgentOptions options) : options_(std::move(options)), plane_(options_.threads) {}

Agent::~Agent() { Stop(); }

absl::Status Agent::Start() {
  // Under a controller the data port acts only on headers signed with a current run key.
  options_.responder.keys = keys_;
  options_.responder.maybe_frozen = [this] { return stalls_.MaybeFrozen(); };
  absl::StatusOr<std::string> capture = plane_.SetCapture(options_.capture_packets);
  if (!capture.ok()) return capture.status();
  if (options_.capture_packets != "off") {
    std::cerr << "rstmesh-agent: packet capture: " << *capture << std::endl;
  }
  absl::Status started = plane_.StartResponder(options_.responder, [this](v1::Observation obs) {
    stalls_.Annotate(obs);
    Report(std::move(obs));
  });
  if (!started.ok()) return started;
  Responder& responder = *plane_.responder();
  std::string host = options_.advertise;
  if (host.empty()) {
    asio::ip::address listen = responder.data_endpoint().address();
    if (listen.is_unspecified()) {
      return absl::InvalidArgumentError(
          "--advertise: required when listening on every address (peers need one to dial)");
    }
    host = listen.to_string();
  }
  asio::ip::tcp::endpoint advertised(asio::ip::make_address(host),
                                     responder.data_endpoint().port());
  ControllerSessionOptions session;
  session.controller = options_.controller;
  session.tls = options_.tls;
  session.self.set_id(options_.id);
  for (const auto& [k, v] : options_.labels) (*session.self.mutable_labels())[k] = v;
  session.self.set_data_endpoint(FormatEndpoint(advertised));
  session.self.set_closed_port(responder.closed_endpoint().port());
  session.self.set_tcp_repair(responder.tcp_repair());
  session.self.set_version(std::string(BuildVersion()));
  session.self.set_incarnation(
      absl::StrCat(absl::Hex(std::random_device{}()), absl::Hex(std::random_device{}())));
  session.self.set_host_incarnation(HostIncarnation());
  if (!options_.health_listen.empty()) {
    absl::StatusOr<std::unique_ptr<HealthServer>> health =
        HealthServer::Start(options_.health_listen);
    if (!health.ok())
      return absl::UnavailableError(absl::StrCat("--health-listen: ", health.status().message()));
    health_ = std::move(*health);
  }
  if (!options_.metrics_listen.empty()) {
    metrics_endpoint_ = std::make_unique<HttpEndpoint>();
    metrics_endpoint_->Handle("/metrics", [this] {
      return HttpEndpoint::Response{200, "text/plain; version=0.0.4; charset=utf-8", MetricsText()};
    });
    metrics_endpoint_->Handle("/healthz", [] {
      return HttpEndpoint::Response{200, "text/plain; charset=utf-8", "ok\n"};
    });
    if (absl::Status started = metrics_endpoint_->Start(options_.metrics_listen); !started.ok()) {
      return absl::UnavailableError(absl::StrCat("--metrics-listen: ", started.message()));
    }
  }
  const size_t max_held = session.max_unacked;
  session_ = std::make_unique<ControllerSession>(
      session, [this](const v1::Schedule& part) { runner_->Add(part); },
      [this](const v1::CancelRun& cancel) {
        if (std::optional<uint64_t> skipped = runner_->Cancel(cancel)) {
          std::cerr << "rstmesh-agent: " << cancel.run_id()
                    << " cancelled by the controller: " << *skipped
                    << " of its tests will not start (those under way end on their own)"
                    << std::endl;
        }
      });
  ScheduleRunner::Options runner;
  runner.may_start = [this, max_held] { return session_->held() < max_held; };
  runner.on_started = [this] { session_->ProgressChanged(); };
  runner_ = std::make_unique<ScheduleRunner>(runner,
                                             [this](ScheduledTest test, ScheduleRunner::Done done) {
                                               StartTest(std::move(test), std::move(done));
                                             });
  session_->set_on_drained([this] { runner_->Wake(); });
  session_->set_progress([this] { return runner_->Progress(); });
  session_->set_on_run_key([this, keys = keys_](const v1::RunKey& k) {
    absl::StatusOr<RunKey> key = RunKeyFromBytes(k.key());
    if (!key.ok() || k.ttl_ms() == 0) {
      keys->Forget(k.run_number());
      runner_->Forget(k.run_number());
      return;
    }
    keys->Put(k.run_number(), *key, KeyRing::Clock::now() + std::chrono::milliseconds(k.ttl_ms()));
  });
  runner_->Start();
  session_->Start();
  return absl::OkStatus();
}

void Agent::Stop() {
  health_.reset();
  if (metrics_endpoint_) metrics_endpoint_->Stop();
  if (session_) session_->Stop();
  if (runner_) runner_->Stop();
  plane_.Stop();
}

std::string Agent::MetricsText() {
  AgentMetrics::Now now;
  if (plane_.responder() != nullptr) now.data_port = plane_.responder()->counters();
  now.session = session_stats();
  now.running_tests = running();
  return metrics_.Render(now);
}

ControllerSession::Stats Agent::session_stats() const {
  return session_ ? session_->stats() : ControllerSession::Stats{};
}

void Agent::Report(v1::Observation obs) {
  metrics_.CountClosure(obs);
  if (session_) session_->Report(std::move(obs));
}

void Agent::StartTest(ScheduledTest test, ScheduleRunner::Done done) {
  Task task;
  task.task_id = test.task_id;
  task.scenario = test.scenario;
  task.closed_port = static_cast<uint16_t>(test.closed_port);
  task.params = std::move(test.params);
  if (absl::StatusOr<RunKey> key = RunKeyFromBytes(test.run_key); key.ok()) task.key = *key;
  if (test.connect_timeout_ms > 0) {
    task.timeouts.connect = std::chrono::milliseconds(test.connect_timeout_ms);
  }
  if (test.io_timeout_ms > 0) task.timeouts.io = std::chrono::milliseconds(test.io_timeout_ms);
  // Test connections leave from the address peers know this agent by.
  if (!options_.advertise.empty()) {
    boost::system::error_code ec;
    auto source = asio::ip::make_address(options_.advertise, ec);
    if (!ec) task.source = source;
  } else if (!plane_.responder()->data_endpoint().address().is_unspecified()) {
    task.source = plane_.responder()->data_endpoint().address();
  }
  const std::string run_id = test.run_id;
  const std::string target_incarnation = test.target_incarnation;
  auto peer = ParseHostPort(test.target_endpoint, 0);
  absl::StatusOr<asio::ip::tcp::endpoint> endpoint =
      peer.ok() ? Resolve(*peer) : absl::StatusOr<asio::ip::tcp::endpoint>(peer.status());
  if (!endpoint.ok()) {
    v1::Observation obs;
    obs.set_run_id(run_id);
    obs.set_task_id(task.task_id);
    obs.set_role(v1::ROLE_INITIATOR);
    obs.set_scenario(task.scenario);
    obs.set_observed(v1::CLOSURE_LOCAL_ERROR);
    obs.set_target_incarnation(target_incarnation);
    obs.set_detail(absl::StrCat("target_endpoint: ", endpoint.status().message()));
    Report(std::move(obs));
    done();
    return;
  }
  if (task.source && task.source->is_v4() != endpoint->address().is_v4()) task.source.reset();
  task.peer = *endpoint;
  plane_.RunTask(std::move(task),
                 [this, run_id, target_incarnation, done = std::move(done)](v1::Observation obs) {
                   obs.set_run_id(run_id);
                   obs.set_target_incarnation(target_incarnation);
                   stalls_.Annotate(obs);
                   Report(std::move(obs));
                   done();
                 });
}

}  // namespace rstmesh
