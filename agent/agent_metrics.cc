#include "agent/agent_metrics.h"

#include "core/closure.h"
#include "core/scenario.h"
#include "telemetry/exposition.h"

namespace rstmesh {

AgentMetrics::AgentMetrics() : closures_(std::make_unique<std::atomic<uint64_t>[]>(kSlots)) {}

void AgentMetrics::CountClosure(const v1::Observation& observation) {
  const int role = observation.role() == v1::ROLE_RESPONDER ? 1 : 0;
  const int scenario = observation.scenario();
  const int closure = observation.observed();
  if (scenario < 0 || scenario >= kScenarios || closure < 0 || closure >= kClasses) return;
  closures_[Slot(role, scenario, closure)].fetch_add(1, std::memory_order_relaxed);
}

std::string AgentMetrics::Render(const Now& now) const {
  Exposition out;
  WriteBuildInfo(out);
  const ResponderCounters& c = now.data_port;
  out.Single("rstmesh_agent_data_port_connections_total", "counter",
             "Connections accepted on the data port.", c.accepted);
  out.Single("rstmesh_agent_data_port_active_connections", "gauge",
             "Data-port connections open now.", c.active);
  out.Single("rstmesh_agent_data_port_tests_total", "counter",
             "Test connections whose header was accepted and whose role was played to the end.",
             c.tests_completed);
  out.Family("rstmesh_agent_data_port_refusals_total", "counter",
             "Data-port connections refused, by reason: over_limit and over_source_limit "
             "(connection limits), header_timeout, truncated, bad_magic, bad_version, "
             "bad_scenario, bad_params (not a valid test header), bad_authenticator (not "
             "signed with its run's key), unknown_run, expired_run, replayed, accept_error.");
  const std::pair<const char*, uint64_t> reasons[] = {
      {"over_limit", c.over_limit},
      {"over_source_limit", c.over_source_limit},
      {"header_timeout", c.header_timeout},
      {"truncated", c.truncated},
      {"bad_magic", c.bad_magic},
      {"bad_version", c.bad_version},
      {"bad_scenario", c.bad_scenario},
      {"bad_params", c.bad_params},
      {"bad_authenticator", c.bad_authenticator},
      {"unknown_run", c.unknown_run},
      {"expired_run", c.expired_run},
      {"replayed", c.replayed},
      {"accept_error", c.accept_errors},
  };
  for (const auto& [reason, n] : reasons) {
    out.Sample("rstmesh_agent_data_port_refusals_total", {{"reason", reason}}, n);
  }

  out.Family("rstmesh_agent_closures_total", "counter",
             "Test connections this agent observed end, by scenario, its role and the closure "
             "class it saw (every scenario's predicted class is present from the start).");
  for (int role = 0; role < 2; ++role) {
    const char* role_name = role == 0 ? "initiator" : "responder";
    for (const ScenarioDef* def : AllScenarios()) {
      const int scenario = static_cast<int>(def->id);
      const Expectation& expected = role == 0 ? def->initiator : def->responder;
      if (!expected.observes) continue;
      for (int closure = 0; closure < kClasses; ++closure) {
        const uint64_t n = closures_[Slot(role, scenario, closure)].load(std::memory_order_relaxed);
        if (n == 0 && closure != expected.closure) continue;
        out.Sample("rstmesh_agent_closures_total",
                   {{"scenario", def->name},
                    {"role", role_name},
                    {"observed", ClosureName(static_cast<v1::ClosureClass>(closure))}},
                   n);
      }
    }
  }
  out.Single("rstmesh_agent_running_tests", "gauge", "Tests of this agent's schedules under way.",
             static_cast<uint64_t>(now.running_tests));

  const ControllerSession::Stats& s = now.session;
  out.Family("rstmesh_agent_controller_connected", "gauge",
             "1 while the agent's stream to the controller is up.");
  out.Sample("rstmesh_agent_controller_connected", uint64_t{s.connected ? 1u : 0u});
  out.Single("rstmesh_agent_controller_connects_total", "counter",
             "Streams to the controller that got its welcome (more than one: reconnects).",
             s.connects);
  out.Single("rstmesh_agent_observations_acked_total", "counter",
             "Observations the controller stored.", s.acked_observations);
  out.Single("rstmesh_agent_observations_held", "gauge",
             "Observations sent or waiting to be, not yet stored by the controller.",
             s.unacked_observations);
  out.Single("rstmesh_agent_batches_refused_total", "counter",
             "Batches the controller's store refused (held and resent).", s.nacked_batches);
  return out.Take();
}

}  // namespace rstmesh
