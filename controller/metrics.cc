#include "controller/metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/closure.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

std::string Escape(absl::string_view value) {
  return absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

}  // namespace

void Metrics::AddRun(const ResultCounts& results) {
  absl::MutexLock lock(&mu_);
  ++runs_finished_;
  for (const auto& [key, n] : results) results_[key] += n;
}

std::string Metrics::Render(const Gauges& gauges) const {
  std::string out;
  absl::StrAppend(&out,
                  "# HELP rstmesh_agents_connected Agents with a live AgentHub stream.\n"
                  "# TYPE rstmesh_agents_connected gauge\n"
                  "rstmesh_agents_connected ",
                  gauges.agents_connected, "\n");
  absl::StrAppend(&out,
                  "# HELP rstmesh_store_errors_total Failed attempts to write the store (disk "
                  "full, I/O error); agents hold what was refused and resend it.\n"
                  "# TYPE rstmesh_store_errors_total counter\n"
                  "rstmesh_store_errors_total ",
                  gauges.store.errors_total, "\n",
                  "# HELP rstmesh_store_failing 1 while the store cannot write (runs pause).\n"
                  "# TYPE rstmesh_store_failing gauge\n"
                  "rstmesh_store_failing ",
                  gauges.store.failing ? 1 : 0, "\n",
                  "# HELP rstmesh_observations_stored_total Observations written to the store "
                  "(resends of stored ones excluded).\n"
                  "# TYPE rstmesh_observations_stored_total counter\n"
                  "rstmesh_observations_stored_total ",
                  gauges.store.observations_stored, "\n");
  absl::StrAppend(&out,
                  "# HELP rstmesh_runs Runs in the store by state.\n"
                  "# TYPE rstmesh_runs gauge\n");
  for (const auto& [state, n] : gauges.runs_by_state) {
    absl::StrAppend(&out, "rstmesh_runs{state=\"", Escape(state), "\"} ", n, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP rstmesh_limit_refusals_total Runs refused by a limit.\n"
                  "# TYPE rstmesh_limit_refusals_total counter\n"
                  "rstmesh_limit_refusals_total{limit=\"parallel_runs\"} ",
                  gauges.limits.parallel_runs_refused, "\n",
                  "# HELP rstmesh_limit_delayed_tasks_total Tasks held back by a limit.\n"
                  "# TYPE rstmesh_limit_delayed_tasks_total counter\n"
                  "rstmesh_limit_delayed_tasks_total{limit=\"agent_closure_rate\"} ",
                  gauges.limits.rate_delayed, "\n",
                  "rstmesh_limit_delayed_tasks_total{limit=\"pair_spacing\"} ",
                  gauges.limits.spacing_delayed, "\n");
  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out,
                  "# HELP rstmesh_runs_finished_total Runs finished since this controller "
                  "started.\n"
                  "# TYPE rstmesh_runs_finished_total counter\n"
                  "rstmesh_runs_finished_total ",
                  runs_finished_, "\n");
  absl::StrAppend(&out,
                  "# HELP rstmesh_task_results_total Judged tasks of finished runs, by "
                  "scenario, the initiator's expected and observed closure, verdict and zone "
                  "pair.\n"
                  "# TYPE rstmesh_task_results_total counter\n");
  for (const auto& [key, n] : results_) {
    const auto& [scenario, expected, observed, verdict, src, dst] = key;
    absl::StrAppend(&out, "rstmesh_task_results_total{scenario=\"", Escape(scenario),
                    "\",expected=\"", Escape(expected), "\",observed=\"", Escape(observed),
                    "\",verdict=\"", verdict, "\",src_zone=\"", Escape(src), "\",dst_zone=\"",
                    Escape(dst), "\"} ", n, "\n");
  }
  return out;
}

}  // namespace rstmesh
