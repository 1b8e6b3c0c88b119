#include "controller/live_run.h"

#include <algorithm>

#include "core/closure.h"
#include "core/scenario.h"
#include "core/task_id.h"

namespace rstmesh {
std::chrono::milliseconds TaskTimeout(const v1::Plan& plan, const v1::ScenarioParams& params) {
  if (plan.limits().task_timeout_ms() > 0) {
    return std::chrono::milliseconds(plan.limits().task_timeout_ms());
  }
  return std::chrono::milliseconds(3000 + 4 * 5000 + params.idle_ms() + 5000);
}

LiveRun LiveRun::Make(const RunRecord& record, const std::vector<TaskRecord>& stored,
                      std::shared_ptr<const TaskLayout> compiled, const std::string& zone_label,
                      Clock::time_point now) {
  LiveRun run;
  run.record = record;
  run.loaded_at = now;
  run.number = static_cast<uint32_t>(RunNumberOf(record.run_id));
  run.tasks = compiled ? RunTasks(std::move(compiled), run.number, stored)
                       : RunTasks(record, run.number, stored);
  const TaskLayout& layout = run.tasks.layout();
  for (uint32_t source : layout.Initiators()) {
    InitiatorWork& work = run.work[layout.agents()[source]];
    work.layout_index = source;
    work.size = layout.WorkSize(source);
  }
  uint64_t deadline_s = record.plan.limits().deadline_s();
  if (record.plan.has_idle_discovery()) {
    run.discovery = ResolveIdleDiscovery(record.plan.idle_discovery());
    run.discovery_dirty = true;
    // Every round's probes of every pair at once: idle connections cost next to nothing.
    size_t most_targets = 1;
    for (const auto& [source, work] : run.work) {
      most_targets =
          std::max<size_t>(most_targets, work.size / std::max<size_t>(1, layout.blocks().size()));
    }
    run.concurrency =
        static_cast<int>(std::min<size_t>(1024, most_targets * run.discovery->probes_per_round()));
    // The ladder, then a few refinement rounds, each at most as long as the longest probe.
    if (deadline_s == 0) deadline_s = 4 * uint64_t{run.discovery->max_idle_ms()} / 1000 + 600;
  }
  run.deadline = now + std::chrono::seconds(deadline_s > 0 ? deadline_s : 3600);
  if (absl::StatusOr<RunKey> key = RunKeyFromBytes(record.run_key); key.ok()) {
    run.key = *key;
  } else {
    run.key = NewRunKey();  // a run stored before run keys existed
  }
  for (const v1::AgentInfo& a : record.agents) run.agent_ids.insert(a.id());
  {
    const std::map<std::string, std::string> zone_of = ZonesOf(record, zone_label);
    std::map<std::string, uint32_t> numbered = {{"", 0}};
    run.zones = {""};
    for (uint32_t a = 0; a < run.tasks.agent_count(); ++a) {
      auto it = zone_of.find(run.tasks.Agent(a));
      const std::string zone = it == zone_of.end() ? "" : it->second;
      auto [at, fresh] = numbered.emplace(zone, static_cast<uint32_t>(run.zones.size()));
      if (fresh) run.zones.push_back(zone);
      run.zone_of_agent.push_back(at->second);
    }
  }
  for (const TaskLayout::Block& block : layout.blocks()) {
    run.timeouts.push_back(TaskTimeout(record.plan, block.params));
  }
  run.live.resize(run.tasks.size());
  if (run.discovery) {
    run.probes.reserve(run.tasks.size());
    for (uint32_t i = 0; i < run.tasks.size(); ++i) {
      run.probes.push_back(ProbeFromObservation(run.tasks.ParamsAt(i), nullptr, false));
    }
  }
  return run;
}

Arrival Arrival::Of(const v1::Observation& obs) {
  Arrival a;
  a.task_id = obs.task_id();
  a.role = obs.role();
  a.view = EndView::Of(obs);
  if (a.role == v1::ROLE_INITIATOR) {
    a.target_incarnation = obs.target_incarnation();
    if (obs.scenario() == v1::SCENARIO_IDLE_HOLD) {
      a.probe = std::make_shared<const v1::Observation>(obs);
    }
  }
  return a;
}

bool LiveRun::Take(uint32_t position, const Arrival& arrival, uint32_t now_ms) {
  LiveTask& task = live[position];
  if (arrival.role == v1::ROLE_INITIATOR) {
    if (task.initiator_seen) return false;
    task.initiator_seen = true;
    task.assigned = true;
    task.initiator_ms = now_ms;
    task.initiator = arrival.view;
    if (discovery) {
      probes[position] = ProbeFromObservation(tasks.ParamsAt(position), arrival.probe.get(), true);
      discovery_dirty = true;
    }
    awaiting.insert(position);
  } else {
    if (task.responder_seen) return false;
    task.responder_seen = true;
    task.responder = arrival.view;
  }
  return true;
}

bool LiveRun::Close(uint32_t position, TaskState state) {
  LiveTask& task = live[position];
  if (task.final) return false;
  task.final = true;
  ++final_count;
  if (discovery && probes[position].result == ProbeResult::kPending) {
    probes[position].result = ProbeResult::kInconclusive;
    discovery_dirty = true;
  }
  if (state != TaskState::kDone) task.state = static_cast<uint8_t>(state);
  if (task.initiator_seen) awaiting.erase(position);
  Judge(position);
  return true;
}

bool LiveRun::EndedInStore(uint32_t position) const {
  const LiveTask& task = live[position];
  const TaskState state = static_cast<TaskState>(task.state);
  return state == TaskState::kTimedOut || state == TaskState::kAgentLost ||
         state == TaskState::kPeerLost || state == TaskState::kResponderSilent ||
         (task.initiator_seen && (task.responder_seen || !ResponderExpected(position)));
}

bool LiveRun::ResponderExpected(uint32_t position) const {
  const EndView& initiator = live[position].initiator;
  const ScenarioDef* def = FindScenario(tasks.ScenarioAt(position));
  return def != nullptr && def->responder.observes && initiator.reached &&
         initiator.observed != v1::CLOSURE_LOCAL_ERROR;
}

void LiveRun::Judge(uint32_t position) {
  const LiveTask& task = live[position];
  const v1::Scenario scenario = tasks.ScenarioAt(position);
  const Judgement result = JudgeEnds(scenario, static_cast<TaskState>(task.state),
                                     task.initiator_seen ? &task.initiator : nullptr,
                                     task.responder_seen ? &task.responder : nullptr);
  switch (result.verdict) {
    case v1::VERDICT_PASS:
      ++pass;
      break;
    case v1::VERDICT_DEVIATION:
      ++deviation;
      break;
    default:
      ++inconclusive;
  }
  auto zone = [&](uint32_t agent) {
    return agent < zone_of_agent.size() ? zone_of_agent[agent] : 0u;
  };
  ++counts[{scenario, task.initiator_seen ? int{task.initiator.observed} : -1, result.verdict,
            zone(tasks.SourceAt(position)), zone(tasks.TargetAt(position))}];
}

RunCounts LiveRun::Counts() const {
  RunCounts snapshot{counts, zones, {}};
  for (const v1::ScenarioRun& s : record.plan.scenarios()) {
    if (const ScenarioDef* def = FindScenario(s.name())) snapshot.scenarios.push_back(def);
  }
  if (record.plan.has_idle_discovery()) {
    snapshot.scenarios.push_back(FindScenario(v1::SCENARIO_IDLE_HOLD));
  }
  return snapshot;
}

ResultCounts RunCounts::Word() const {
  ResultCounts results;
  for (const auto& [key, n] : counts) {
    const auto& [scenario, observed, verdict, source, target] = key;
    v1::TaskResult r;
    r.set_scenario(static_cast<v1::Scenario>(scenario));
    if (observed >= 0) r.mutable_initiator()->set_observed(static_cast<v1::ClosureClass>(observed));
    r.set_verdict(static_cast<v1::Verdict>(verdict));
    CountResultInZones(r, zones[source], zones[target], n, results);
  }
  for (const ScenarioDef* def : scenarios) {
    if (def == nullptr) continue;
    const std::string expected(ClosureName(def->initiator.closure));
    for (const std::string& source : zones) {
      for (const std::string& target : zones) {
        for (const char* verdict : {"pass", "deviation", "inconclusive"}) {
          results.try_emplace({std::string(def->name), expected, expected, verdict, source, target},
                              0);
        }
      }
    }
  }
  return results;
}

std::chrono::milliseconds LiveRun::TimeoutOf(uint32_t position) const {
  if (!tasks.is_explicit(position)) {
    const TaskLayout& layout = tasks.layout();
    const TaskLayout::Block& block = layout.BlockOf(position + 1);
    return timeouts[static_cast<size_t>(&block - layout.blocks().data())];
  }
  return TaskTimeout(record.plan, tasks.ParamsAt(position));
}

RunProgress LiveRun::Progress() const {
  RunProgress p;
  p.run_id = record.run_id;
  p.state = finished ? record.state : RunState::kRunning;
  p.finished_unix_ms = finished ? record.finished_unix_ms : 0;
  p.total = live.size();
  p.done = final_count;
  p.pass = pass;
  p.deviation = deviation;
  p.inconclusive = inconclusive;
  return p;
}

}  // namespace rstmesh
