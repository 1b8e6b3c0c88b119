#include "controller/run_manager.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "controller/aggregator.h"
#include "controller/plan_expander.h"
#include "controller/plan_validator.h"
#include "controller/task_judge.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Long enough for every step of the scenario to hit its own deadline first.
std::chrono::milliseconds TaskTimeout(const v1::Plan& plan, const v1::ScenarioParams& params) {
  if (plan.limits().task_timeout_ms() > 0) {
    return std::chrono::milliseconds(plan.limits().task_timeout_ms());
  }
  return std::chrono::milliseconds(3000 + 4 * 5000 + params.idle_ms() + 5000);
}

bool ResponderExpected(const v1::Observation& initiator) {
  const ScenarioDef* def = FindScenario(initiator.scenario());
  return def != nullptr && def->responder.observes && initiator.stage() != v1::STAGE_CONNECT &&
         initiator.observed() != v1::CLOSURE_LOCAL_ERROR;
}

// "run-7" -> 7; 0 for anything else.
uint64_t RunNumberOf(const std::string& run_id) {
  uint64_t number = 0;
  return absl::SimpleAtoi(absl::StripPrefix(run_id, "run-"), &number) ? number : 0;
}

}  // namespace

std::string RunIdFor(uint64_t run_number) { return absl::StrCat("run-", run_number); }
uint64_t RunNumberOfTask(uint64_t task_id) { return task_id >> 32; }

RunManager::RunManager(Store* store, AgentRegistry* registry, Options options)
    : store_(store), registry_(registry), options_(std::move(options)) {}

RunManager::~RunManager() { Stop(); }

absl::Status RunManager::Start() {
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns();
  if (!runs.ok()) return runs.status();
  {
    absl::MutexLock lock(&mu_);
    for (const RunRecord& run : *runs) {
      last_run_number_ = std::max(last_run_number_, RunNumberOf(run.run_id));
      if (run.state == RunState::kRunning) {
        if (absl::Status loaded = Load(run); !loaded.ok()) return loaded;
      }
    }
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void RunManager::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status RunManager::Load(const RunRecord& record) {
  auto tasks = store_->GetTasks(record.run_id);
  if (!tasks.ok()) return tasks.status();
  auto observations = store_->GetObservations(record.run_id);
  if (!observations.ok()) return observations.status();
  LiveRun run;
  run.record = record;
  run.loaded_at = Clock::now();
  uint64_t deadline_s = record.plan.limits().deadline_s();
  std::map<std::string, std::set<std::string>> targets_of;
  for (const TaskRecord& t : *tasks) targets_of[t.source].insert(t.target);
  if (record.plan.has_idle_discovery()) {
    run.discovery = ResolveIdleDiscovery(record.plan.idle_discovery());
    run.discovery_dirty = true;
    // Every round's probes of every pair at once: idle connections cost next to nothing.
    size_t most_targets = 1;
    for (const auto& [source, targets] : targets_of) {
      most_targets = std::max(most_targets, targets.size());
    }
    run.concurrency =
        static_cast<int>(std::min<size_t>(1024, most_targets * run.discovery->probes_per_round()));
    // The ladder, then a few refinement rounds, each at most as long as the longest probe.
    if (deadline_s == 0) deadline_s = 4 * uint64_t{run.discovery->max_idle_ms()} / 1000 + 600;
  }
  run.deadline = Clock::now() + std::chrono::seconds(deadline_s > 0 ? deadline_s : 3600);
  if (absl::StatusOr<RunKey> key = RunKeyFromBytes(record.run_key); key.ok()) {
    run.key = *key;
  } else {
    run.key = NewRunKey();  // a run stored before run keys existed
  }
  for (const v1::AgentInfo& a : record.agents) run.agent_ids.insert(a.id());
  run.number = static_cast<uint32_t>(RunNumberOf(record.run_id));
  std::map<uint64_t, size_t> index;
  for (const TaskRecord& t : *tasks) {
    LiveTask live;
    live.record = t;
    live.source_party = run.PartyOf(t.source);
    live.target_party = run.PartyOf(t.target);
    live.timeout = TaskTimeout(record.plan, t.params);
    live.probe = ProbeFromObservation(t.params, nullptr, false);
    index[t.task_id] = run.tasks.size();
    run.tasks.push_back(std::move(live));
  }
  for (const v1::Observation& obs : *observations) {
    auto it = index.find(obs.task_id());
    if (it == index.end()) continue;
    LiveTask& task = run.tasks[it->second];
    if (obs.role() == v1::ROLE_INITIATOR) {
      task.initiator_seen = true;
      task.responder_expected = ResponderExpected(obs);
      task.initiator_at = Clock::now();
      task.probe = ProbeFromObservation(task.record.params, &obs, true);
      task.deviated |= !obs.matched() && !IsUnsupported(obs);
    } else {
      task.responder_seen = true;
      task.deviated |= !obs.matched() && !IsUnsupported(obs);
    }
  }
  for (LiveTask& task : run.tasks) {
    bool done = task.record.state == TaskState::kTimedOut ||
                task.record.state == TaskState::kAgentLost ||
                task.record.state == TaskState::kPeerLost ||
                (task.initiator_seen && (task.responder_seen || !task.responder_expected));
    if (done) {
      task.final = true;
      ++run.final_count;
      if (!task.initiator_seen) task.probe.result = ProbeResult::kInconclusive;
    }
  }
  std::string id = record.run_id;
  runs_[id] = std::move(run);
  // Keys before any assignment, so that responders know them first (an agent that is not
  // connected yet gets them when it registers).
  for (const std::string& agent : runs_[id].agent_ids) SendKey(runs_[id], agent, false);
  MaybeFinish(runs_[id]);
  return absl::OkStatus();
}

bool RunManager::ReturnedAsNewProcess(const std::string& agent_id, const std::string& incarnation) {
  for (const v1::AgentInfo& a : registry_->Agents()) {
    if (a.id() == agent_id) return a.incarnation() != incarnation;
  }
  return false;
}

RunManager::LimitCounts RunManager::limit_counts() {
  absl::MutexLock lock(&mu_);
  return limit_counts_;
}

absl::StatusOr<std::string> RunManager::StartRun(const v1::Plan& plan) {
  const std::vector<v1::AgentInfo> agents = registry_->Agents();
  if (absl::Status valid = ValidatePlan(plan, agents); !valid.ok()) return valid;
  std::vector<PlannedTask> planned = ExpandPlan(plan, agents);
  absl::MutexLock lock(&mu_);
  size_t running = 0;
  for (const auto& [id, run] : runs_) running += run.finished ? 0 : 1;
  if (running >= static_cast<size_t>(options_.max_parallel_runs)) {
    ++limit_counts_.parallel_runs_refused;
    return absl::ResourceExhaustedError(
        absl::StrCat("limits: ", running,
                     " runs are running, the most this controller runs at "
                     "once (--max-parallel-runs ",
                     options_.max_parallel_runs, "); start it when one ends"));
  }
  const uint64_t number = ++last_run_number_;
  RunRecord record;
  record.run_id = RunIdFor(number);
  record.plan = plan;
  record.created_unix_ms = UnixMs();
  record.total_tasks = planned.size();
  record.agents = SelectAgents(plan.selector(), agents);
  const RunKey key = NewRunKey();
  record.run_key.assign(key.begin(), key.end());
  std::vector<TaskRecord> tasks;
  tasks.reserve(planned.size());
  for (size_t i = 0; i < planned.size(); ++i) {
    TaskRecord t;
    t.task_id = number << 32 | (i + 1);
    t.source = planned[i].source;
    t.target = planned[i].target;
    t.scenario = planned[i].scenario;
    t.params = planned[i].params;
    tasks.push_back(std::move(t));
  }
  if (absl::Status created = store_->CreateRun(record, tasks); !created.ok()) return created;
  if (absl::Status loaded = Load(record); !loaded.ok()) return loaded;
  return record.run_id;
}

absl::Status RunManager::CancelRun(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) {
    auto stored = store_->GetRun(run_id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return absl::NotFoundError(absl::StrCat("no run ", run_id));
    return absl::FailedPreconditionError(
        absl::StrCat(run_id, " is already ", RunStateName((*stored)->state)));
  }
  LiveRun& run = it->second;
  run.cancelled = true;
  for (const auto& [agent, count] : in_flight_) {
    v1::ControllerMessage cancel;
    cancel.mutable_cancel()->set_run_id(run_id);
    registry_->Send(agent, cancel);
  }
  for (LiveTask& task : run.tasks) {
    if (!task.final) Finalize(run, task, TaskState::kTimedOut);
  }
  MaybeFinish(run);
  return absl::OkStatus();
}

absl::Status RunManager::OnObservations(const std::string& /*agent_id*/,
                                        const std::vector<v1::Observation>& observations) {
  std::vector<v1::Observation> valid;
  valid.reserve(observations.size());
  for (const v1::Observation& obs : observations) {
    // Anything that cannot belong to a task is dropped (and acknowledged, so it is not
    // resent forever).
    if (obs.task_id() == 0 || RunNumberOfTask(obs.task_id()) == 0) continue;
    if (obs.role() != v1::ROLE_INITIATOR && obs.role() != v1::ROLE_RESPONDER) continue;
    v1::Observation copy = obs;
    copy.set_run_id(RunIdFor(RunNumberOfTask(obs.task_id())));
    valid.push_back(std::move(copy));
  }
  // Only tasks that exist are stored: a confused or hostile agent cannot fill the store
  // with observations of runs or tasks that never were.
  {
    absl::MutexLock lock(&mu_);
    std::map<std::string, uint64_t> stored_runs;  // run id -> its task count (0: no such run)
    valid.erase(std::remove_if(valid.begin(), valid.end(),
                               [&](const v1::Observation& obs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                                 LiveRun* run = nullptr;
                                 if (FindTask(obs.task_id(), &run) != nullptr) return false;
                                 auto [it, fresh] = stored_runs.emplace(obs.run_id(), 0);
                                 if (fresh && !runs_.count(obs.run_id())) {
                                   auto record = store_->GetRun(obs.run_id());
                                   if (record.ok() && record->has_value()) {
                                     it->second = (*record)->total_tasks;
                                   }
                                 }
                                 const uint64_t index = obs.task_id() & 0xFFFFFFFFu;
                                 return index == 0 || index > it->second;
                               }),
                valid.end());
  }
  if (valid.empty()) return absl::OkStatus();
  absl::StatusOr<int> stored = store_->InsertObservations(valid);
  if (!stored.ok()) return stored.status();

  absl::MutexLock lock(&mu_);
  const auto now = Clock::now();
  for (const v1::Observation& obs : valid) {
    LiveRun* run = nullptr;
    LiveTask* task = FindTask(obs.task_id(), &run);
    if (task == nullptr) continue;
    task->deviated |= !obs.matched() && !IsUnsupported(obs);
    if (obs.role() == v1::ROLE_INITIATOR) {
      if (task->initiator_seen) continue;
      task->initiator_seen = true;
      task->initiator_at = now;
      task->responder_expected = ResponderExpected(obs);
      if (run->discovery) {
        task->probe = ProbeFromObservation(task->record.params, &obs, true);
        run->discovery_dirty = true;
      }
      if (task->in_flight) {
        task->in_flight = false;
        --in_flight_[task->record.source];
      }
    } else {
      task->responder_seen = true;
    }
    if (!task->final && task->initiator_seen && task->peer_lost) {
      // A host that lost the connection is one whose agent came back as a new process
      // (rebooted, restarted). One that is simply gone may have been killed, and a killed
      // process's kernel ends its connections itself: nothing to judge the path by.
      Finalize(*run, *task,
               ReturnedAsNewProcess(task->record.target, task->target_incarnation)
                   ? TaskState::kPeerLost
                   : TaskState::kAgentLost);
    } else if (!task->final && task->initiator_seen &&
               (task->responder_seen || !task->responder_expected)) {
      Finalize(*run, *task, TaskState::kDone);
    }
  }
  for (auto it = runs_.begin(); it != runs_.end();) {
    LiveRun& run = (it++)->second;
    MaybeFinish(run);
  }
  return absl::OkStatus();
}

void RunManager::OnAgentLost(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  lost_agents_.insert(agent_id);
  for (auto it = runs_.begin(); it != runs_.end();) {
    LiveRun& run = (it++)->second;
    for (LiveTask& task : run.tasks) {
      if (task.final) continue;
      if (task.record.source != agent_id && task.record.target != agent_id) continue;
      if (!task.assigned) continue;  // the scheduler decides once it sees who is back
      if (task.initiator_seen) {
        Finalize(run, task, TaskState::kDone);
      } else if (task.record.target == agent_id && task.record.source != agent_id) {
        // The initiator is still testing against a peer that vanished (crashed, rebooted):
        // what it sees next is the point. Its own deadlines bound the wait.
        task.peer_lost = true;
      } else {
        Finalize(run, task, TaskState::kAgentLost);
      }
    }
    MaybeFinish(run);
  }
}

RunManager::LiveTask* RunManager::FindTask(uint64_t task_id, LiveRun** run) {
  auto it = runs_.find(RunIdFor(RunNumberOfTask(task_id)));
  if (it == runs_.end()) return nullptr;
  const uint64_t index = (task_id & 0xFFFFFFFFu) - 1;
  if (index >= it->second.tasks.size()) return nullptr;
  *run = &it->second;
  return &it->second.tasks[index];
}

void RunManager::Finalize(LiveRun& run, LiveTask& task, TaskState state) {
  if (task.final) return;
  task.final = true;
  ++run.final_count;
  if (run.discovery && task.probe.result == ProbeResult::kPending) {
    task.probe.result = ProbeResult::kInconclusive;
    run.discovery_dirty = true;
  }
  if (task.in_flight) {
    task.in_flight = false;
    --in_flight_[task.record.source];
  }
  if (state == TaskState::kTimedOut || state == TaskState::kAgentLost ||
      state == TaskState::kPeerLost) {
    task.record.state = state;
    store_->SetTaskState(run.record.run_id, task.record.task_id, state).IgnoreError();
  }
}

void RunManager::AdvanceDiscovery(LiveRun& run) {
  if (!run.discovery || !run.discovery_dirty || run.cancelled || run.tasks.empty()) return;
  if (Clock::now() > run.deadline) return;
  run.discovery_dirty = false;
  std::map<std::pair<std::string, std::string>, std::vector<IdleProbe>> pairs;
  for (const LiveTask& task : run.tasks) {
    pairs[{task.record.source, task.record.target}].push_back(task.probe);
  }
  const uint64_t number = RunNumberOfTask(run.tasks.front().record.task_id);
  std::vector<TaskRecord> added;
  for (const auto& [pair, probes] : pairs) {
    IdleSearchStep step = AdvanceIdleSearch(*run.discovery, probes);
    for (uint32_t idle_ms : step.next) {
      TaskRecord t;
      t.task_id = number << 32 | (run.tasks.size() + added.size() + 1);
      t.source = pair.first;
      t.target = pair.second;
      t.scenario = v1::SCENARIO_IDLE_HOLD;
      t.params = IdleProbeParams(idle_ms, step.next_round);
      added.push_back(std::move(t));
    }
  }
  if (added.empty()) return;
  if (!store_->AddTasks(run.record.run_id, added).ok()) {
    // Not stored, not run: those pairs end with the bracket they have.
    return;
  }
  for (TaskRecord& t : added) {
    LiveTask live;
    live.timeout = TaskTimeout(run.record.plan, t.params);
    live.probe = ProbeFromObservation(t.params, nullptr, false);
    live.source_party = run.PartyOf(t.source);
    live.target_party = run.PartyOf(t.target);
    live.record = std::move(t);
    run.tasks.push_back(std::move(live));
  }
  run.record.total_tasks = run.tasks.size();
}

void RunManager::SendKey(const LiveRun& run, const std::string& agent, bool revoke) {
  v1::ControllerMessage message;
  v1::RunKey* key = message.mutable_run_key();
  key->set_run_number(run.number);
  if (!revoke) {
    key->set_key(std::string(run.key.begin(), run.key.end()));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        run.deadline - Clock::now() + std::chrono::minutes(5));
    key->set_ttl_ms(static_cast<uint32_t>(std::clamp<int64_t>(left.count(), 1, UINT32_MAX)));
  }
  registry_->Send(agent, std::move(message));
}

void RunManager::OnAgentRegistered(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, run] : runs_) {
    if (!run.finished && run.agent_ids.count(agent_id)) SendKey(run, agent_id, false);
  }
}

void RunManager::MaybeFinish(LiveRun& run) {
  AdvanceDiscovery(run);
  if (run.final_count < run.tasks.size() || run.finished) return;
  // No new test connection belongs to the run from now on.
  for (const std::string& agent : run.agent_ids) SendKey(run, agent, true);
  const RunState state = run.cancelled ? RunState::kCancelled : RunState::kFinished;
  store_->SetRunState(run.record.run_id, state, UnixMs()).IgnoreError();
  run.record.state = state;
  run.finished = true;
}

void RunManager::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    std::vector<std::string> finished = Tick();
    if (!finished.empty() && on_finished_) {
      mu_.Unlock();
      for (const std::string& run_id : finished) on_finished_(run_id);
      mu_.Lock();
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.tick));
  }
}

std::vector<std::string> RunManager::Tick() {
  // Finished runs leave the live set (their reports come from the store).
  std::vector<std::string> finished;
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->second.finished) {
      finished.push_back(it->first);
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  if (runs_.empty()) return finished;
  const auto now = Clock::now();
  // Every tick needs the agents; copying them costs, with thousands of agents, far more
  // than the tick itself: only when they changed.
  if (const uint64_t generation = registry_->generation(); generation != agents_generation_) {
    agents_generation_ = generation;
    agents_.clear();
    for (v1::AgentInfo& a : registry_->Agents()) {
      lost_agents_.erase(a.id());
      agents_[a.id()] = std::move(a);
    }
  }
  const std::map<std::string, v1::AgentInfo>& agents = agents_;
  for (auto& [run_id, run] : runs_) {
    const v1::Limits& limits = run.record.plan.limits();
    const int limit = limits.concurrency_per_agent() > 0
                          ? static_cast<int>(limits.concurrency_per_agent())
                          : run.concurrency;
    const auto spacing =
        std::max(std::chrono::milliseconds(limits.pair_spacing_ms()), options_.min_pair_spacing);
    const bool past_deadline = now > run.deadline;
    // Per party, once per tick: its registration, its tests in flight, and whether its
    // token bucket ran dry in this tick (it cannot refill before the next).
    const size_t parties = run.parties.size();
    std::vector<const v1::AgentInfo*> present(parties, nullptr);
    std::vector<int*> flight(parties);
    std::vector<bool> rate_dry(parties, false);
    for (size_t k = 0; k < parties; ++k) {
      auto it = agents.find(run.parties[k]);
      if (it != agents.end()) present[k] = &it->second;
      flight[k] = &in_flight_[run.parties[k]];  // std::map: the address stays valid
    }
    while (run.next_open < run.tasks.size() && run.tasks[run.next_open].final) ++run.next_open;
    for (size_t i = run.next_open; i < run.tasks.size(); ++i) {
      LiveTask& task = run.tasks[i];
      if (task.final) continue;
      if (past_deadline) {
        Finalize(run, task, TaskState::kTimedOut);
      } else if (task.initiator_seen) {
        if (now - task.initiator_at > options_.responder_grace) {
          Finalize(run, task, TaskState::kDone);
        }
      } else if (task.assigned) {
        if (now - task.assigned_at > task.timeout) Finalize(run, task, TaskState::kTimedOut);
      } else if (i >= run.next_pending) {
        const std::string& source = task.record.source;
        const v1::AgentInfo* dst = present[task.target_party];
        if (present[task.source_party] == nullptr || dst == nullptr) {
          // Known lost: at once. Not seen since this controller (re)started: after a grace.
          if (lost_agents_.count(source) || lost_agents_.count(task.record.target) ||
              now - run.loaded_at > options_.reconnect_grace) {
            Finalize(run, task, TaskState::kAgentLost);
          }
          continue;
        }
        if (*flight[task.source_party] >= limit) continue;
        if (rate_dry[task.source_party]) {
          if (!task.rate_delayed) {
            task.rate_delayed = true;
            ++limit_counts_.rate_delayed;
          }
          continue;
        }
        auto pair = std::make_pair(source, task.record.target);
        if (spacing.count() > 0 && pair_last_.count(pair) && now - pair_last_[pair] < spacing) {
          if (!task.spacing_delayed) {
            task.spacing_delayed = true;
            ++limit_counts_.spacing_delayed;
          }
          continue;
        }
        // A token bucket per initiator agent: up to a second's worth at once.
        Bucket& bucket = rate_[source];
        const double rate = options_.max_closures_per_second;
        const double burst = std::max(1.0, rate);
        if (bucket.refilled == Clock::time_point()) bucket = {burst, now};
        bucket.tokens = std::min(
            burst,
            bucket.tokens + rate * std::chrono::duration<double>(now - bucket.refilled).count());
        bucket.refilled = now;
        if (bucket.tokens < 1.0) {
          rate_dry[task.source_party] = true;
          if (!task.rate_delayed) {
            task.rate_delayed = true;
            ++limit_counts_.rate_delayed;
          }
          continue;
        }
        v1::ControllerMessage message;
        v1::Assignment* a = message.mutable_assignment();
        a->set_run_id(run_id);
        a->set_task_id(task.record.task_id);
        a->set_scenario(task.record.scenario);
        a->set_target_agent(task.record.target);
        a->set_target_endpoint(dst->data_endpoint());
        a->set_closed_port(dst->closed_port());
        a->set_run_key(std::string(run.key.begin(), run.key.end()));
        *a->mutable_params() = task.record.params;
        if (!registry_->Send(source, std::move(message))) {
          Finalize(run, task, TaskState::kAgentLost);
          continue;
        }
        bucket.tokens -= 1.0;
        task.assigned = true;
        task.assigned_at = now;
        task.target_incarnation = dst->incarnation();
        task.in_flight = true;
        ++*flight[task.source_party];
        pair_last_[pair] = now;
      }
    }
    while (run.next_pending < run.tasks.size() &&
           (run.tasks[run.next_pending].assigned || run.tasks[run.next_pending].final)) {
      ++run.next_pending;
    }
    MaybeFinish(run);
  }
  return finished;
}

absl::StatusOr<RunProgress> RunManager::Progress(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    // A finished run is counted exactly from the store, like its report.
    if (it != runs_.end() && !it->second.finished) {
      const LiveRun& run = it->second;
      RunProgress p;
      p.run_id = run_id;
      p.state = run.record.state;
      p.total = run.tasks.size();
      p.done = run.final_count;
      // While it runs, an estimate: the report judges each task from both ends.
      for (const LiveTask& t : run.tasks) {
        if (!t.final) continue;
        if (t.deviated) {
          ++p.deviation;
        } else if (t.record.state != TaskState::kPending && t.record.state != TaskState::kDone) {
          ++p.inconclusive;
        } else {
          ++p.pass;
        }
      }
      return p;
    }
  }
  absl::StatusOr<RunReport> report = Report(run_id);
  if (!report.ok()) return report.status();
  return report->progress;
}

absl::StatusOr<RunReport> RunManager::Report(const std::string& run_id) {
  auto run = store_->GetRun(run_id);
  if (!run.ok()) return run.status();
  if (!run->has_value()) return absl::NotFoundError(absl::StrCat("no run ", run_id));
  auto tasks = store_->GetTasks(run_id);
  if (!tasks.ok()) return tasks.status();
  auto observations = store_->GetObservations(run_id);
  if (!observations.ok()) return observations.status();
  std::map<std::pair<uint64_t, int>, v1::Observation> by_task;
  for (v1::Observation& obs : *observations) {
    by_task[{obs.task_id(), obs.role()}] = std::move(obs);
  }
  std::set<uint64_t> open;  // tasks of a live run still under way
  {
    absl::MutexLock lock(&mu_);
    if (auto it = runs_.find(run_id); it != runs_.end()) {
      for (const LiveTask& t : it->second.tasks) {
        if (!t.final) open.insert(t.record.task_id);
      }
    }
  }
  RunReport report;
  report.plan = (*run)->plan;
  report.progress.run_id = run_id;
  report.progress.state = (*run)->state;
  report.progress.total = tasks->size();
  // Zones as the agents had them when the run started (a lost agent keeps its zone).
  std::map<std::string, std::string>& zone_of = report.zone_of;
  for (const v1::AgentInfo& a : (*run)->agents) {
    auto it = a.labels().find(options_.zone_label);
    if (it != a.labels().end()) zone_of[a.id()] = it->second;
  }
  for (const TaskRecord& task : *tasks) {
    if (open.count(task.task_id)) continue;
    auto find = [&](v1::Role role) -> std::optional<v1::Observation> {
      auto it = by_task.find({task.task_id, role});
      if (it == by_task.end()) return std::nullopt;
      return it->second;
    };
    v1::TaskResult result = JudgeTask(task, find(v1::ROLE_INITIATOR), find(v1::ROLE_RESPONDER));
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
    report.results.push_back(std::move(result));
  }
  report.cells = AggregateByAgent(report.results);
  report.zone_cells = AggregateByLabel(report.results, zone_of);
  if (report.plan.has_idle_discovery()) {
    const v1::IdleDiscovery discovery = ResolveIdleDiscovery(report.plan.idle_discovery());
    std::map<std::pair<std::string, std::string>, std::vector<IdleProbe>> pairs;
    for (const TaskRecord& task : *tasks) {
      auto initiator = by_task.find({task.task_id, v1::ROLE_INITIATOR});
      pairs[{task.source, task.target}].push_back(ProbeFromObservation(
          task.params, initiator == by_task.end() ? nullptr : &initiator->second,
          open.count(task.task_id) == 0));
    }
    for (const auto& [pair, probes] : pairs) {
      v1::IdleTimeout result = AdvanceIdleSearch(discovery, probes).result;
      result.set_source(pair.first);
      result.set_target(pair.second);
      if (auto it = zone_of.find(pair.first); it != zone_of.end()) {
        result.set_source_zone(it->second);
      }
      if (auto it = zone_of.find(pair.second); it != zone_of.end()) {
        result.set_target_zone(it->second);
      }
      report.idle_timeouts.push_back(std::move(result));
    }
  }
  return report;
}

}  // namespace rstmesh
