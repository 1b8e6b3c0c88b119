#include "controller/run_report.h"

#include <cstdlib>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/aggregator.h"
#include "controller/findings.h"
#include "controller/idle_discovery.h"
#include "controller/task_judge.h"
#include "core/closure.h"
#include "core/scenario.h"

namespace rstmesh {

void CountResultInZones(const v1::TaskResult& r, const std::string& source_zone,
                        const std::string& target_zone, uint64_t n, ResultCounts& counts) {
  const ScenarioDef* def = FindScenario(r.scenario());
  std::string scenario = def ? std::string(def->name) : "unknown";
  std::string expected = def ? std::string(ClosureName(def->initiator.closure)) : "";
  std::string observed =
      r.has_initiator() ? std::string(ClosureName(r.initiator().observed())) : "NONE_REPORTED";
  std::string verdict = r.verdict() == v1::VERDICT_PASS        ? "pass"
                        : r.verdict() == v1::VERDICT_DEVIATION ? "deviation"
                                                               : "inconclusive";
  counts[{std::move(scenario), std::move(expected), std::move(observed), std::move(verdict),
          source_zone, target_zone}] += n;
}

std::map<std::string, std::string> ZonesOf(const RunRecord& record, const std::string& label) {
  std::map<std::string, std::string> zone_of;
  for (const v1::AgentInfo& a : record.agents) {
    auto it = a.labels().find(label);
    if (it != a.labels().end()) zone_of[a.id()] = it->second;
  }
  return zone_of;
}

absl::StatusOr<ReportSource> StoredReportSource(Store& store, const RunRecord& record) {
  ReportSource source;
  source.record = record;
  absl::StatusOr<std::vector<TaskRecord>> stored = store.GetTasks(record.run_id);
  if (!stored.ok()) return stored.status();
  // The run's number is in its id ("run-7"); its stored tasks carry it.
  const uint32_t number = static_cast<uint32_t>(RunNumberOf(record.run_id));
  source.tasks = RunTasks(record, number, *stored);
  source.states.assign(source.tasks.size(), static_cast<uint8_t>(TaskState::kPending));
  absl::StatusOr<std::vector<std::pair<uint64_t, TaskState>>> states =
      store.GetTaskStates(record.run_id);
  if (!states.ok()) return states.status();
  for (const auto& [task_id, state] : *states) {
    const uint32_t index = TaskId::FromRaw(task_id).index();
    if (index >= 1 && index <= source.states.size()) {
      source.states[index - 1] = static_cast<uint8_t>(state);
    }
  }
  return source;
}

absl::Status ForEachResult(Store& store, const ReportSource& source, const ResultVisitor& visit) {
  const RunTasks& tasks = source.tasks;
  // Observations come in task order; tasks are walked in the same order, each judged when
  // the stream passes it.
  uint32_t next = 0;  // the first position not visited yet
  std::optional<v1::Observation> initiator, responder;
  uint64_t held_task = 0;
  auto visit_up_to = [&](uint32_t end) {
    for (; next < end && next < tasks.size(); ++next) {
      if (!source.open.empty() && source.open[next]) continue;
      TaskRecord task = tasks.RecordAt(next);
      task.state = static_cast<TaskState>(source.states[next]);
      const bool held = held_task == task.task_id;
      const v1::Observation* init = held && initiator ? &*initiator : nullptr;
      v1::TaskResult result =
          JudgeTask(task, held ? initiator : std::nullopt, held ? responder : std::nullopt);
      visit(task, init, std::move(result));
    }
  };
  absl::Status walked = store.ForEachObservation(source.record.run_id, [&](v1::Observation&& obs) {
    const uint32_t index = TaskId::FromRaw(obs.task_id()).index();
    if (index == 0 || index > tasks.size()) return;
    if (obs.task_id() != held_task) {
      // The held task is complete: judge every task up to and including it.
      if (held_task != 0) visit_up_to(TaskId::FromRaw(held_task).index());
      initiator.reset();
      responder.reset();
      held_task = obs.task_id();
      visit_up_to(index - 1);  // the tasks before it without observations
    }
    if (obs.role() == v1::ROLE_INITIATOR) {
      initiator = std::move(obs);
    } else if (obs.role() == v1::ROLE_RESPONDER) {
      responder = std::move(obs);
    }
  });
  if (!walked.ok()) return walked;
  visit_up_to(static_cast<uint32_t>(tasks.size()));
  return absl::OkStatus();
}

absl::StatusOr<RunReport> BuildReport(Store& store, const ReportSource& source,
                                      const std::string& zone_label, const ReportOptions& options) {
  RunReport report;
  const RunRecord& record = source.record;
  if (options.include_tasks && source.tasks.size() > ReportOptions::kMaxReportTasks) {
    return absl::FailedPreconditionError(absl::StrCat(
        "include_tasks: ", record.run_id, " has ", source.tasks.size(), " tasks, more than the ",
        ReportOptions::kMaxReportTasks,
        " a report carries one by one; its observations stream with `rstmeshctl export`"));
  }
  report.agent_cells_omitted = source.tasks.size() > ReportOptions::kMaxAgentCellTasks;
  report.plan = record.plan;
  report.progress.run_id = record.run_id;
  report.progress.state = record.state;
  report.progress.finished_unix_ms = record.finished_unix_ms;
  report.progress.total = source.tasks.size();
  // Zones as the agents had them when the run started (a lost agent keeps its zone).
  report.zone_of = ZonesOf(record, zone_label);
  report.zone_label = zone_label;
  FindingsBuilder findings(record.agents);
  const bool discovery = record.plan.has_idle_discovery();
  std::map<std::pair<std::string, std::string>, std::vector<IdleProbe>> pairs;
  CellAggregator agent_cells, zone_cells;
  auto zone = [&](const std::string& id) -> const std::string& {
    static const std::string kNone;
    auto it = report.zone_of.find(id);
    return it == report.zone_of.end() ? kNone : it->second;
  };
  absl::Status walked = ForEachResult(
      store, source,
      [&](const TaskRecord& task, const v1::Observation* initiator, v1::TaskResult&& result) {
        ++report.progress.done;
        switch (result.verdict()) {
          case v1::VERDICT_PASS:
            ++report.progress.pass;
            break;
          case v1::VERDICT_DEVIATION:
            ++report.progress.deviation;
            break;
          default:
            ++report.progress.inconclusive;
        }
        if (discovery) {
          pairs[{task.source, task.target}].push_back(
              ProbeFromObservation(task.params, initiator, true));
        }
        if (!report.agent_cells_omitted) agent_cells.Add(task.source, task.target, result);
        zone_cells.Add(zone(task.source), zone(task.target), result);
        findings.Add(task, result);
        if (result.verdict() == v1::VERDICT_DEVIATION &&
            report.deviations.size() < options.max_deviations) {
          report.deviations.push_back(result);
        }
        if (options.include_tasks) report.tasks.push_back(std::move(result));
      });
  if (!walked.ok()) return walked;
  report.cells = agent_cells.Cells();
  report.zone_cells = zone_cells.Cells();
  FindingsBuilder::Findings found = findings.Build();
  report.findings = std::move(found.findings);
  report.inconclusive = std::move(found.inconclusive);
  if (discovery) {
    // Probes still under way count as pending.
    for (uint32_t i = 0; i < source.open.size(); ++i) {
      if (!source.open[i]) continue;
      const TaskRecord task = source.tasks.RecordAt(i);
      pairs[{task.source, task.target}].push_back(
          ProbeFromObservation(task.params, nullptr, false));
    }
    const v1::IdleDiscovery resolved = ResolveIdleDiscovery(record.plan.idle_discovery());
    for (const auto& [pair, probes] : pairs) {
      v1::IdleTimeout result = AdvanceIdleSearch(resolved, probes).result;
      result.set_source(pair.first);
      result.set_target(pair.second);
      if (auto it = report.zone_of.find(pair.first); it != report.zone_of.end()) {
        result.set_source_zone(it->second);
      }
      if (auto it = report.zone_of.find(pair.second); it != report.zone_of.end()) {
        result.set_target_zone(it->second);
      }
      report.idle_timeouts.push_back(std::move(result));
    }
  }
  return report;
}

}  // namespace rstmesh
