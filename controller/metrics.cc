#include "controller/metrics.h"

#include <tuple>

#include "absl/strings/str_cat.h"
#include "telemetry/exposition.h"

namespace rstmesh {
namespace {

constexpr const char* kRoles[2] = {"initiator", "responder"};

}  // namespace

Metrics::Metrics()
    // Audits take seconds (a few agents) to hours (a large mesh).
    : run_duration_(ExponentialBounds(1, 2, 16)),
      // Closures are seen within microseconds (a RST on loopback) to tens of seconds (a
      // keepalive or retransmission timeout).
      time_to_observe_{Histogram(ExponentialBounds(0.0001, 4, 10)),
                       Histogram(ExponentialBounds(0.0001, 4, 10))} {}

void Metrics::Update(std::vector<RunManager::RunResults> runs) {
  std::vector<ResultCounts> worded;  // before taking the lock scrapes wait on
  for (const RunManager::RunResults& run : runs) worded.push_back(run.counts.Word());
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < runs.size(); ++i) {
    RunManager::RunResults& run = runs[i];
    if (!run.finished) {
      live_[run.run_id] = LiveEntry{std::move(worded[i]), run.progress};
      continue;
    }
    live_.erase(run.run_id);
    for (const auto& [key, n] : worded[i]) finished_results_[key] += n;
    ++runs_finished_;
    last_counts_by_plan_[run.plan] = run.progress;
    if (run.progress.finished_unix_ms > run.created_unix_ms) {
      run_duration_.Observe((run.progress.finished_unix_ms - run.created_unix_ms) / 1000.0);
    }
  }
}

void Metrics::ObserveArrival(const v1::Observation& observation) {
  const int role = observation.role() == v1::ROLE_RESPONDER ? 1 : 0;
  received_[role].fetch_add(1, std::memory_order_relaxed);
  if (observation.time_to_observe_us() > 0) {
    time_to_observe_[role].Observe(observation.time_to_observe_us() / 1e6);
  }
}

std::string Metrics::Render(const Gauges& gauges) const {
  Exposition out;
  WriteBuildInfo(out);

  const AgentRegistry::Counts& agents = gauges.agents;
  out.Family("rstmesh_agents", "gauge",
             "Agents registered with this controller: connected, or disconnected within their "
             "lease (their tests wait for them).");
  out.Sample("rstmesh_agents", {{"state", "connected"}}, agents.connected);
  out.Sample("rstmesh_agents", {{"state", "disconnected"}}, agents.disconnected);
  out.Single("rstmesh_agents_connected", "gauge", "Agents with a live AgentHub stream.",
             agents.connected);
  out.Family("rstmesh_agent_registrations_total", "counter",
             "Agents that registered: joined (an id new to this controller), reconnected (a "
             "member's stream again) or restarted (a member under a new process).");
  out.Sample("rstmesh_agent_registrations_total", {{"kind", "joined"}}, agents.joined_total);
  out.Sample("rstmesh_agent_registrations_total", {{"kind", "reconnected"}},
             agents.reconnected_total - agents.restarted_total);
  out.Sample("rstmesh_agent_registrations_total", {{"kind", "restarted"}}, agents.restarted_total);
  out.Single("rstmesh_agent_disconnects_total", "counter",
             "Agent streams that ended or went silent.", agents.disconnected_total);
  out.Single("rstmesh_agents_lost_total", "counter",
             "Agents unreachable past their lease: removed, their open tasks ended.",
             agents.lost_total);

  out.Family("rstmesh_observations_received_total", "counter",
             "Observations received from agents, by role (resends included).");
  for (int role = 0; role < 2; ++role) {
    out.Sample("rstmesh_observations_received_total", {{"role", kRoles[role]}},
               received_[role].load(std::memory_order_relaxed));
  }
  out.Family("rstmesh_time_to_observe_seconds", "histogram",
             "Time from a closure's trigger to the end's observation of it, by role.");
  for (int role = 0; role < 2; ++role) {
    time_to_observe_[role].Write(out, "rstmesh_time_to_observe_seconds", {{"role", kRoles[role]}});
  }

  out.Single("rstmesh_store_errors_total", "counter",
             "Failed attempts to write the store (disk full, I/O error); agents hold what was "
             "refused and resend it.",
             gauges.store.errors_total);
  out.Family("rstmesh_store_failing", "gauge", "1 while the store cannot write (runs pause).");
  out.Sample("rstmesh_store_failing", uint64_t{gauges.store.failing ? 1u : 0u});
  out.Single("rstmesh_observations_stored_total", "counter",
             "Observations written to the store (resends of stored ones excluded).",
             gauges.store.observations_stored);

  out.Family("rstmesh_runs", "gauge", "Runs in the store by state.");
  for (const auto& [state, n] : gauges.runs_by_state) {
    out.Sample("rstmesh_runs", {{"state", state}}, n);
  }
  out.Family("rstmesh_limit_refusals_total", "counter", "Runs refused by a limit.");
  out.Sample("rstmesh_limit_refusals_total", {{"limit", "parallel_runs"}},
             gauges.limits.parallel_runs_refused);
  out.Family("rstmesh_limit_delayed_tasks_total", "counter", "Tasks held back by a limit.");
  out.Sample("rstmesh_limit_delayed_tasks_total", {{"limit", "agent_closure_rate"}},
             gauges.limits.rate_delayed);
  out.Sample("rstmesh_limit_delayed_tasks_total", {{"limit", "pair_spacing"}},
             gauges.limits.spacing_delayed);

  absl::MutexLock lock(&mu_);
  out.Single("rstmesh_runs_finished_total", "counter",
             "Runs finished (or cancelled) since this controller started.", runs_finished_);
  out.Family("rstmesh_run_duration_seconds", "histogram",
             "How long runs that ended in this process took, from start to their last task.");
  run_duration_.Write(out, "rstmesh_run_duration_seconds");

  uint64_t planned = 0, done = 0;
  for (const auto& [run_id, entry] : live_) {
    planned += entry.progress.total;
    done += entry.progress.done;
  }
  out.Family("rstmesh_running_tasks", "gauge",
             "Tasks of the runs under way: all of them (total) and those judged (done).");
  out.Sample("rstmesh_running_tasks", {{"progress", "total"}}, planned);
  out.Sample("rstmesh_running_tasks", {{"progress", "done"}}, done);

  out.Family("rstmesh_last_audit_finished_timestamp_seconds", "gauge",
             "When the last run of each plan ended (unix time), from the store.");
  for (const auto& [plan, last] : gauges.last_audit_by_plan) {
    out.Sample("rstmesh_last_audit_finished_timestamp_seconds", {{"plan", plan}},
               last.finished_unix_s);
  }
  out.Family("rstmesh_last_audit_duration_seconds", "gauge",
             "How long the last run of each plan took.");
  for (const auto& [plan, last] : gauges.last_audit_by_plan) {
    out.Sample("rstmesh_last_audit_duration_seconds", {{"plan", plan}}, last.duration_s);
  }
  out.Family("rstmesh_last_audit_tasks", "gauge",
             "The tasks of the last run of each plan that ended in this process, by verdict.");
  for (const auto& [plan, counts] : last_counts_by_plan_) {
    out.Sample("rstmesh_last_audit_tasks", {{"plan", plan}, {"verdict", "pass"}}, counts.pass);
    out.Sample("rstmesh_last_audit_tasks", {{"plan", plan}, {"verdict", "deviation"}},
               counts.deviation);
    out.Sample("rstmesh_last_audit_tasks", {{"plan", plan}, {"verdict", "inconclusive"}},
               counts.inconclusive);
  }

  // Both result families sum the finished runs' counts and the live ones' so far.
  using VerdictKey = std::tuple<std::string, std::string, std::string, std::string>;
  using ClosureKey = std::tuple<std::string, std::string, std::string>;
  std::map<VerdictKey, uint64_t> verdicts;
  std::map<ClosureKey, uint64_t> closures;
  auto add = [&](const ResultCounts& counts) {
    for (const auto& [key, n] : counts) {
      const auto& [scenario, expected, observed, verdict, src, dst] = key;
      verdicts[{scenario, verdict, src, dst}] += n;
      closures[{scenario, expected, observed}] += n;
    }
  };
  add(finished_results_);
  for (const auto& [run_id, entry] : live_) add(entry.results);
  out.Family("rstmesh_task_results_total", "counter",
             "Judged tasks by scenario, verdict and zone pair, counted as they are judged.");
  for (const auto& [key, n] : verdicts) {
    const auto& [scenario, verdict, src, dst] = key;
    out.Sample("rstmesh_task_results_total",
               {{"scenario", scenario}, {"verdict", verdict}, {"src_zone", src}, {"dst_zone", dst}},
               n);
  }
  out.Family("rstmesh_task_closures_total", "counter",
             "Judged tasks by scenario, the closure Linux predicts for the initiator (expected) "
             "and the one it observed.");
  for (const auto& [key, n] : closures) {
    const auto& [scenario, expected, observed] = key;
    out.Sample("rstmesh_task_closures_total",
               {{"scenario", scenario}, {"expected", expected}, {"observed", observed}}, n);
  }
  return out.Take();
}

}  // namespace rstmesh
