#include "controller/run_manager.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "controller/aggregator.h"
#include "controller/plan_validator.h"
#include "controller/task_judge.h"
#include "core/monotonic_clock.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

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

// How often open tasks are swept for deadlines, timeouts and lost agents.
constexpr std::chrono::seconds kSweepInterval{1};

// "run-7" -> 7; 0 for anything else.
uint64_t RunNumberOf(const std::string& run_id) {
  uint64_t number = 0;
  return absl::SimpleAtoi(absl::StripPrefix(run_id, "run-"), &number) ? number : 0;
}

}  // namespace

std::string RunIdFor(uint64_t run_number) { return absl::StrCat("run-", run_number); }
uint64_t RunNumberOfTask(uint64_t task_id) { return TaskId::FromRaw(task_id).run(); }

RunManager::RunManager(Store* store, AgentRegistry* registry, Options options)
    : store_(store),
      registry_(registry),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : MonotonicClock::Real()),
      writer_(std::make_unique<StoreWriter>(store, StoreWriter::Options{})) {}

RunManager::~RunManager() { Stop(); }

absl::Status RunManager::Start() {
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns();
  if (!runs.ok()) return runs.status();
  for (const RunRecord& run : *runs) {
    {
      absl::MutexLock lock(&mu_);
      last_run_number_ = std::max(last_run_number_, RunNumberOf(run.run_id));
      known_runs_[static_cast<uint32_t>(RunNumberOf(run.run_id))] = run.total_tasks;
      if (!run.request_id.empty()) run_of_request_[run.request_id] = run.run_id;
    }
    if (run.state != RunState::kRunning) continue;
    // Read without the lock; nothing else runs yet.
    auto tasks = store_->GetTasks(run.run_id);
    if (!tasks.ok()) return tasks.status();
    auto observations = store_->GetObservations(run.run_id);
    if (!observations.ok()) return observations.status();
    absl::MutexLock lock(&mu_);
    Load(run, *tasks, *observations);
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
  // What is queued is written (one attempt) before the store goes.
  writer_->Stop();
}

void RunManager::Load(const RunRecord& record, const std::vector<TaskRecord>& tasks,
                      const std::vector<v1::Observation>& observations) {
  LiveRun run;
  run.record = record;
  run.loaded_at = Now();
  uint64_t deadline_s = record.plan.limits().deadline_s();
  std::map<std::string, std::set<std::string>> targets_of;
  for (const TaskRecord& t : tasks) targets_of[t.source].insert(t.target);
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
  run.deadline = Now() + std::chrono::seconds(deadline_s > 0 ? deadline_s : 3600);
  if (absl::StatusOr<RunKey> key = RunKeyFromBytes(record.run_key); key.ok()) {
    run.key = *key;
  } else {
    run.key = NewRunKey();  // a run stored before run keys existed
  }
  for (const v1::AgentInfo& a : record.agents) run.agent_ids.insert(a.id());
  run.number = static_cast<uint32_t>(RunNumberOf(record.run_id));
  run.layout = std::make_shared<const TaskLayout>(TaskLayout::Compile(record.plan, record.agents));
  for (uint32_t source : run.layout->Initiators()) {
    Work& work = run.work[run.layout->agents()[source]];
    work.layout_index = source;
    work.order = run.layout->WorkOrder(source, kTargetsPerPart);
  }
  std::map<uint64_t, size_t> index;
  for (const TaskRecord& t : tasks) {
    LiveTask live;
    live.record = t;
    live.timeout = TaskTimeout(record.plan, t.params);
    live.probe = ProbeFromObservation(t.params, nullptr, false);
    index[t.task_id] = run.tasks.size();
    run.tasks.push_back(std::move(live));
  }
  for (const v1::Observation& obs : observations) {
    auto it = index.find(obs.task_id());
    if (it == index.end()) continue;
    LiveTask& task = run.tasks[it->second];
    if (obs.role() == v1::ROLE_INITIATOR) {
      task.initiator_seen = true;
      task.responder_expected = ResponderExpected(obs);
      task.initiator_at = Now();
      task.probe = ProbeFromObservation(task.record.params, &obs, true);
      task.deviated |= !obs.matched() && !IsUnsupported(obs) && obs.agent_stalled_ms() == 0;
      task.initiator_matched = obs.matched() || IsUnsupported(obs);
    } else {
      task.responder_seen = true;
      task.deviated |= !obs.matched() && !IsUnsupported(obs) && obs.agent_stalled_ms() == 0;
    }
  }
  for (uint32_t i = 0; i < run.tasks.size(); ++i) {
    LiveTask& task = run.tasks[i];
    bool done = task.record.state == TaskState::kTimedOut ||
                task.record.state == TaskState::kAgentLost ||
                task.record.state == TaskState::kPeerLost ||
                task.record.state == TaskState::kResponderSilent ||
                (task.initiator_seen && (task.responder_seen || !task.responder_expected));
    if (done) {
      task.final = true;
      ++run.final_count;
      Count(run, task);
      if (!task.initiator_seen) task.probe.result = ProbeResult::kInconclusive;
    } else if (task.initiator_seen) {
      run.joins.insert(i);
    }
  }
  std::string id = record.run_id;
  LiveRun& live = runs_[id] = std::move(run);
  // Keys before any schedule, so that responders know them first (an agent that is not
  // connected yet gets them, and its schedule, when it registers).
  for (const std::string& agent : live.agent_ids) SendKey(live, agent, false);
  for (const std::string& agent : live.agent_ids) {
    std::optional<v1::AgentInfo> info = registry_->Find(agent);
    if (info) live.told[agent] = absl::StrCat(info->data_endpoint(), "/", info->closed_port());
    if (!info || !info->connected()) live.paused.insert(agent);
  }
  for (const std::string& agent : live.agent_ids) SendSchedule(live, agent);
  MaybeFinish(live);
}

void RunManager::Count(LiveRun& run, const LiveTask& task) {
  // While it runs, an estimate: the report judges each task from both ends.
  if (task.record.state != TaskState::kPending && task.record.state != TaskState::kDone &&
      task.record.state != TaskState::kPeerLost) {
    ++run.inconclusive;
  } else if (task.deviated) {
    ++run.deviation;
  } else {
    ++run.pass;
  }
}

void RunManager::FillSchedule(const LiveRun& run, v1::Schedule& part) {
  const v1::Limits& limits = run.record.plan.limits();
  part.set_run_id(run.record.run_id);
  part.set_run_number(run.number);
  part.set_run_key(std::string(run.key.begin(), run.key.end()));
  part.set_concurrency(limits.concurrency_per_agent() > 0 ? limits.concurrency_per_agent()
                                                          : static_cast<uint32_t>(run.concurrency));
  part.set_pair_spacing_ms(static_cast<uint32_t>(
      std::max<int64_t>(limits.pair_spacing_ms(), options_.min_pair_spacing.count())));
  part.set_closures_per_second(options_.max_closures_per_second);
  FillTargets(part, [this](const std::string& agent, v1::AgentInfo* info) {
    std::optional<v1::AgentInfo> found = registry_->Find(agent);
    if (found) *info = std::move(*found);
    return found.has_value();
  });
  for (v1::ScheduleTarget& target : *part.mutable_targets()) {
    target.set_paused(run.paused.count(target.agent()) > 0);
  }
}

void RunManager::MarkStarted(LiveTask& task, Clock::time_point now) {
  task.assigned = true;
  task.assigned_at = now;
  if (std::optional<AgentRegistry::Liveness> target = registry_->LivenessOf(task.record.target)) {
    task.target_incarnation = Intern(target->incarnation);
    task.target_host = Intern(target->host_incarnation);
  }
}

void RunManager::SendExplicit(LiveRun& run, const std::string& source,
                              const std::vector<uint32_t>& indices) {
  if (indices.empty()) return;
  v1::ControllerMessage message;
  v1::Schedule& part = *message.mutable_schedule();
  std::map<std::string, uint32_t> target_of;
  for (uint32_t i : indices) {
    const TaskRecord& record = run.tasks[i].record;
    auto [it, fresh] = target_of.emplace(record.target, part.targets_size());
    if (fresh) part.add_targets()->set_agent(record.target);
    v1::ScheduledTask* task = part.add_tasks();
    task->set_task_id(record.task_id);
    task->set_target(it->second);
    task->set_scenario(record.scenario);
    *task->mutable_params() = record.params;
  }
  FillSchedule(run, part);
  if (!registry_->Send(source, std::move(message))) return;  // resent when it is back
  const auto now = Now();
  for (uint32_t i : indices) {
    if (!run.tasks[i].assigned) MarkStarted(run.tasks[i], now);
  }
}

void RunManager::SendSchedule(LiveRun& run, const std::string& agent) {
  if (run.finished || run.cancelled) return;
  if (auto it = run.work.find(agent); it != run.work.end()) {
    Work& work = it->second;
    // Past what the agent (or its predecessor) said it started, the work that is over.
    uint64_t resume = work.started;
    while (resume < work.order.size()) {
      const LiveTask& task = run.tasks[work.order[resume] - 1];
      if (!task.final && !task.initiator_seen) break;
      ++resume;
    }
    if (resume < work.order.size()) {
      for (v1::Schedule& part : run.layout->Parts(work.layout_index, kTargetsPerPart)) {
        part.set_resume_from(resume);
        FillSchedule(run, part);
        v1::ControllerMessage message;
        *message.mutable_schedule() = std::move(part);
        if (!registry_->Send(agent, std::move(message))) return;  // sent when it is back
      }
    }
  }
  // Idle discovery's later rounds: the ones it has not reported (it ignores those it has).
  std::vector<uint32_t> explicit_tasks;
  for (size_t i = run.layout->size(); i < run.tasks.size(); ++i) {
    const LiveTask& task = run.tasks[i];
    if (task.final || task.initiator_seen || task.record.source != agent) continue;
    explicit_tasks.push_back(static_cast<uint32_t>(i));
  }
  SendExplicit(run, agent, explicit_tasks);
}

void RunManager::OnProgress(const std::string& agent_id, const v1::ScheduleProgress& progress) {
  absl::MutexLock lock(&mu_);
  // Each process counts from 0: a smaller count is a new process's.
  auto& [rate, spacing] = reported_delays_[agent_id];
  limit_counts_.rate_delayed +=
      progress.rate_delayed() >= rate ? progress.rate_delayed() - rate : progress.rate_delayed();
  limit_counts_.spacing_delayed += progress.spacing_delayed() >= spacing
                                       ? progress.spacing_delayed() - spacing
                                       : progress.spacing_delayed();
  rate = progress.rate_delayed();
  spacing = progress.spacing_delayed();
  const auto now = Now();
  for (const v1::RunProgress& p : progress.runs()) {
    auto run = runs_.find(RunIdFor(p.run_number()));
    if (run == runs_.end() || run->second.finished) continue;
    auto work = run->second.work.find(agent_id);
    if (work == run->second.work.end()) continue;
    Work& w = work->second;
    const uint64_t started = std::min<uint64_t>(p.started(), w.order.size());
    for (uint64_t k = w.started; k < started; ++k) {
      LiveTask& task = run->second.tasks[w.order[k] - 1];
      if (!task.final && !task.assigned) MarkStarted(task, now);
    }
    w.started = std::max(w.started, started);
  }
}

bool RunManager::ReturnedAsNewProcess(const std::string& agent_id, uint32_t incarnation) {
  const std::optional<AgentRegistry::Liveness> now = registry_->LivenessOf(agent_id);
  return now.has_value() && Intern(now->incarnation) != incarnation;
}

uint32_t RunManager::Intern(const std::string& incarnation) {
  if (incarnation.empty()) return 0;
  auto [it, fresh] = interned_.emplace(incarnation, static_cast<uint32_t>(interned_.size() + 1));
  return it->second;
}

TaskState RunManager::ResponderReplaced(const LiveTask& task) {
  const std::optional<AgentRegistry::Liveness> now = registry_->LivenessOf(task.record.target);
  const bool same_host =
      now.has_value() && task.target_host != 0 && Intern(now->host_incarnation) == task.target_host;
  return same_host ? TaskState::kAgentLost : TaskState::kPeerLost;
}

RunManager::LimitCounts RunManager::limit_counts() {
  absl::MutexLock lock(&mu_);
  return limit_counts_;
}

absl::StatusOr<std::string> RunManager::StartRun(const v1::Plan& plan,
                                                 const std::string& request_id) {
  if (request_id.size() > 128) {
    return absl::InvalidArgumentError("request_id: longer than 128 characters");
  }
  if (!request_id.empty()) {
    absl::MutexLock lock(&mu_);
    if (auto it = run_of_request_.find(request_id); it != run_of_request_.end()) {
      return it->second;  // a retry: the run its first attempt started
    }
  }
  const std::vector<v1::AgentInfo> agents = registry_->Agents();
  if (absl::Status valid = ValidatePlan(plan, agents); !valid.ok()) return valid;
  const TaskLayout layout = TaskLayout::Compile(plan, agents);
  uint64_t number = 0;
  {
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
    // A retry racing the first attempt finds the run it reserves here.
    if (!request_id.empty()) {
      auto [it, fresh] = run_of_request_.emplace(request_id, RunIdFor(last_run_number_ + 1));
      if (!fresh) return it->second;
    }
    number = ++last_run_number_;
  }
  RunRecord record;
  record.run_id = RunIdFor(number);
  record.plan = plan;
  record.created_unix_ms = UnixMillisNow();
  record.total_tasks = layout.size();
  record.agents = SelectAgents(plan.selector(), agents);
  const RunKey key = NewRunKey();
  record.run_key.assign(key.begin(), key.end());
  std::vector<TaskRecord> tasks;
  tasks.reserve(layout.size());
  for (uint32_t index = 1; index <= layout.size(); ++index) {
    PlannedTask planned = layout.At(index);
    TaskRecord t;
    t.task_id = TaskId(static_cast<uint32_t>(number), index).raw();
    t.source = std::move(planned.source);
    t.target = std::move(planned.target);
    t.scenario = planned.scenario;
    t.params = std::move(planned.params);
    tasks.push_back(std::move(t));
  }
  record.request_id = request_id;
  // Stored before anyone hears of it, outside the lock: ingest and the scheduler go on.
  if (absl::Status created = store_->CreateRun(record, tasks); !created.ok()) {
    absl::MutexLock lock(&mu_);
    if (!request_id.empty()) run_of_request_.erase(request_id);
    return created;
  }
  absl::MutexLock lock(&mu_);
  known_runs_[static_cast<uint32_t>(number)] = tasks.size();
  Load(record, tasks, {});
  return record.run_id;
}

absl::Status RunManager::CancelRun(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  auto it = runs_.find(run_id);
  if (it != runs_.end() && it->second.finished) {
    return absl::FailedPreconditionError(
        absl::StrCat(run_id, " is already ", RunStateName(it->second.record.state)));
  }
  if (it == runs_.end()) {
    mu_.Unlock();
    auto stored = store_->GetRun(run_id);
    mu_.Lock();
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return absl::NotFoundError(absl::StrCat("no run ", run_id));
    return absl::FailedPreconditionError(
        absl::StrCat(run_id, " is already ", RunStateName((*stored)->state)));
  }
  LiveRun& run = it->second;
  run.cancelled = true;
  // Every agent stops its schedule at once; tests under way end on their own deadlines.
  for (const std::string& agent : run.agent_ids) {
    v1::ControllerMessage cancel;
    cancel.mutable_cancel()->set_run_id(run_id);
    registry_->Send(agent, std::move(cancel));
  }
  for (LiveTask& task : run.tasks) {
    if (!task.final) Finalize(run, task, TaskState::kTimedOut);
  }
  MaybeFinish(run);
  return absl::OkStatus();
}

void RunManager::Ingest(const std::string& /*agent_id*/, std::vector<v1::Observation> observations,
                        std::function<void(const absl::Status&)> done) {
  std::vector<v1::Observation>& valid = observations;  // filtered in place
  size_t kept = 0;
  {
    // Only tasks that exist are stored: a confused or hostile agent cannot fill the store
    // with observations of runs or tasks that never were. Anything else is dropped (and
    // acknowledged, so that it is not resent forever).
    absl::MutexLock lock(&mu_);
    for (v1::Observation& obs : observations) {
      const TaskId id = TaskId::FromRaw(obs.task_id());
      if (!id.valid()) continue;
      if (obs.role() != v1::ROLE_INITIATOR && obs.role() != v1::ROLE_RESPONDER) continue;
      auto run = known_runs_.find(id.run());
      if (run == known_runs_.end() || id.index() > run->second) continue;
      obs.set_run_id(RunIdFor(id.run()));
      if (&valid[kept] != &obs) valid[kept] = std::move(obs);
      ++kept;
    }
  }
  valid.resize(kept);
  if (valid.empty()) {
    done(absl::OkStatus());
    return;
  }
  writer_->SubmitObservations(
      std::move(valid), [this, done = std::move(done)](const absl::Status& status,
                                                       const std::vector<v1::Observation>& batch) {
        if (status.ok()) Apply(batch);
        done(status);
      });
}

absl::Status RunManager::OnObservations(const std::string& agent_id,
                                        const std::vector<v1::Observation>& observations) {
  absl::Notification finished;
  absl::Status outcome;
  Ingest(agent_id, observations, [&](const absl::Status& status) {
    outcome = status;
    finished.Notify();
  });
  finished.WaitForNotification();
  return outcome;
}

void RunManager::Apply(const std::vector<v1::Observation>& valid) {
  absl::MutexLock lock(&mu_);
  const auto now = Now();
  for (const v1::Observation& obs : valid) {
    LiveRun* run = nullptr;
    LiveTask* task = FindTask(obs.task_id(), &run);
    if (task == nullptr) continue;
    task->deviated |= !obs.matched() && !IsUnsupported(obs) && obs.agent_stalled_ms() == 0;
    if (obs.role() == v1::ROLE_INITIATOR) {
      if (task->initiator_seen) continue;
      task->initiator_seen = true;
      task->initiator_at = now;
      // The responder it dialled, as its schedule said (what the progress said may be late).
      if (!obs.target_incarnation().empty()) {
        task->target_incarnation = Intern(obs.target_incarnation());
      }
      task->responder_expected = ResponderExpected(obs);
      task->initiator_matched = obs.matched() || IsUnsupported(obs);
      if (run->discovery) {
        task->probe = ProbeFromObservation(task->record.params, &obs, true);
        run->discovery_dirty = true;
      }
      if (!task->final) run->joins.insert(TaskId::FromRaw(obs.task_id()).index() - 1);
    } else {
      task->responder_seen = true;
    }
    Settle(*run, *task, now);
  }
  for (auto it = runs_.begin(); it != runs_.end();) {
    LiveRun& run = (it++)->second;
    MaybeFinish(run);
  }
}

void RunManager::Settle(LiveRun& run, LiveTask& task, Clock::time_point now) {
  if (task.final || !task.initiator_seen) return;
  if (task.peer_lost) {
    // A host that lost the connection is one whose agent came back as a new process
    // (rebooted, restarted). One that is simply gone may have been killed, and a killed
    // process's kernel ends its connections itself: nothing to judge the path by.
    Finalize(run, task,
             ReturnedAsNewProcess(task.record.target, task.target_incarnation)
                 ? ResponderReplaced(task)
                 : TaskState::kAgentLost);
    return;
  }
  if (task.responder_seen || (!task.responder_expected && task.initiator_matched)) {
    Finalize(run, task, TaskState::kDone);
    return;
  }
  // Without the responder's account, what the initiator saw is the path's doing only if the
  // responder's agent was alive: heard from, as the same process, after the initiator
  // reported. A hung host's kernel still accepts connections and then answers nothing,
  // which would read as a path that swallows resets; a restarted one refuses them.
  const std::optional<AgentRegistry::Liveness> responder =
      registry_->LivenessOf(task.record.target);
  if (responder && task.target_incarnation != 0 &&
      Intern(responder->incarnation) != task.target_incarnation) {
    Finalize(run, task, ResponderReplaced(task));
    return;
  }
  const bool alive_after = responder.has_value() && responder->last_heard > task.initiator_at;
  if (!task.responder_expected && alive_after) {
    Finalize(run, task, TaskState::kDone);
  } else if (now - task.initiator_at > options_.responder_grace) {
    Finalize(run, task, alive_after ? TaskState::kDone : TaskState::kResponderSilent);
  }
}

void RunManager::OnAgentRestarted(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  for (auto it = runs_.begin(); it != runs_.end();) {
    LiveRun& run = (it++)->second;
    for (LiveTask& task : run.tasks) {
      if (task.final || !task.assigned || task.initiator_seen) continue;
      if (task.record.source == agent_id) {
        // The process running the test is gone, and with it what it saw.
        Finalize(run, task, TaskState::kAgentLost);
      } else if (task.record.target == agent_id) {
        task.peer_lost = true;  // what the initiator sees next is the point
      }
    }
    MaybeFinish(run);
  }
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
        const bool responder_missing = task.record.target == agent_id && !task.responder_seen &&
                                       (task.responder_expected || !task.initiator_matched);
        Finalize(run, task, responder_missing ? TaskState::kResponderSilent : TaskState::kDone);
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
  const TaskId id = TaskId::FromRaw(task_id);
  if (id.index() == 0 || id.index() > it->second.tasks.size()) return nullptr;
  const size_t index = id.index() - 1;
  *run = &it->second;
  return &it->second.tasks[index];
}

void RunManager::Finalize(LiveRun& run, LiveTask& task, TaskState state) {
  if (task.final) return;
  task.final = true;
  ++run.final_count;
  run.joins.erase(static_cast<uint32_t>(&task - run.tasks.data()));
  if (run.discovery && task.probe.result == ProbeResult::kPending) {
    task.probe.result = ProbeResult::kInconclusive;
    run.discovery_dirty = true;
  }
  if (state != TaskState::kDone) {
    task.record.state = state;
    writer_->SubmitTaskState(run.record.run_id, task.record.task_id, state);
  }
  Count(run, task);
}

void RunManager::AdvanceDiscovery(LiveRun& run) {
  if (!run.discovery || !run.discovery_dirty || run.cancelled || run.tasks.empty()) return;
  if (Now() > run.deadline) return;
  run.discovery_dirty = false;
  std::map<std::pair<std::string, std::string>, std::vector<IdleProbe>> pairs;
  for (const LiveTask& task : run.tasks) {
    pairs[{task.record.source, task.record.target}].push_back(task.probe);
  }
  const uint32_t number = run.number;
  std::vector<TaskRecord> added;
  for (const auto& [pair, probes] : pairs) {
    IdleSearchStep step = AdvanceIdleSearch(*run.discovery, probes);
    for (uint32_t idle_ms : step.next) {
      TaskRecord t;
      t.task_id = TaskId(number, static_cast<uint32_t>(run.tasks.size() + added.size() + 1)).raw();
      t.source = pair.first;
      t.target = pair.second;
      t.scenario = v1::SCENARIO_IDLE_HOLD;
      t.params = IdleProbeParams(idle_ms, step.next_round);
      added.push_back(std::move(t));
    }
  }
  if (added.empty()) return;
  // Rare (once per round of a discovery run) and small; still under the lock, which a later
  // step (schedule amendments) removes.
  if (!store_->AddTasks(run.record.run_id, added).ok()) {
    // Not stored, not run: those pairs end with the bracket they have.
    return;
  }
  known_runs_[run.number] += added.size();
  // Amendments to the initiators' schedules.
  std::map<std::string, std::vector<uint32_t>> by_source;
  for (TaskRecord& t : added) {
    by_source[t.source].push_back(static_cast<uint32_t>(run.tasks.size()));
    LiveTask live;
    live.timeout = TaskTimeout(run.record.plan, t.params);
    live.probe = ProbeFromObservation(t.params, nullptr, false);
    live.record = std::move(t);
    run.tasks.push_back(std::move(live));
  }
  run.record.total_tasks = run.tasks.size();
  for (const auto& [source, indices] : by_source) SendExplicit(run, source, indices);
}

void RunManager::SendKey(const LiveRun& run, const std::string& agent, bool revoke) {
  v1::ControllerMessage message;
  v1::RunKey* key = message.mutable_run_key();
  key->set_run_number(run.number);
  if (!revoke) {
    key->set_key(std::string(run.key.begin(), run.key.end()));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        run.deadline - Now() + std::chrono::minutes(5));
    key->set_ttl_ms(static_cast<uint32_t>(std::clamp<int64_t>(left.count(), 1, UINT32_MAX)));
  }
  registry_->Send(agent, std::move(message));
}

void RunManager::OnAgentRegistered(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, run] : runs_) {
    if (run.finished || !run.agent_ids.count(agent_id)) continue;
    SendKey(run, agent_id, false);
    if (std::optional<v1::AgentInfo> info = registry_->Find(agent_id)) {
      std::string where = absl::StrCat(info->data_endpoint(), "/", info->closed_port());
      if (run.told[agent_id] != where) {
        run.told[agent_id] = std::move(where);
        run.retell.insert(agent_id);
      }
    }
    // Schedules sent on a stream that then broke may never have arrived, and a new process
    // has none: the agent gets its schedule again, resuming where its progress got to, and
    // ignores the parts it has.
    SendSchedule(run, agent_id);
  }
}

void RunManager::MaybeFinish(LiveRun& run) {
  AdvanceDiscovery(run);
  if (run.final_count < run.tasks.size() || run.finished) return;
  // No new test connection belongs to the run from now on.
  for (const std::string& agent : run.agent_ids) SendKey(run, agent, true);
  const RunState state = run.cancelled ? RunState::kCancelled : RunState::kFinished;
  run.record.finished_unix_ms = UnixMillisNow();
  run.finish_place = writer_->SubmitRunState(run.record.run_id, state, run.record.finished_unix_ms);
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
    if (it->second.finished && writer_->Stored(it->second.finish_place)) {
      finished.push_back(it->first);
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  if (runs_.empty()) return finished;
  const auto now = Now();
  if (PausedForStore(now)) return finished;
  bool sweep = now - last_sweep_ >= kSweepInterval;
  // Copying the registry costs, with thousands of agents, far more than a tick: only when it
  // changed.
  if (const uint64_t generation = registry_->generation(); generation != agents_generation_) {
    agents_generation_ = generation;
    members_.clear();
    for (const v1::AgentInfo& a : registry_->Agents()) {
      lost_agents_.erase(a.id());
      members_[a.id()] = a.connected();
    }
    // Tests of an agent not heard from wait (its host may hang); they go on when it is back.
    for (auto& [id, run] : runs_) {
      for (const std::string& agent : run.agent_ids) {
        auto member = members_.find(agent);
        const bool paused = member == members_.end() || !member->second;
        if (paused == (run.paused.count(agent) > 0)) continue;
        if (paused) {
          run.paused.insert(agent);
        } else {
          run.paused.erase(agent);
        }
        run.retell.insert(agent);
      }
    }
    sweep = true;
  }
  if (sweep) last_sweep_ = now;
  for (auto& [run_id, run] : runs_) {
    // The tasks waiting for their responder's side (Settle may finalize them).
    const std::vector<uint32_t> joins(run.joins.begin(), run.joins.end());
    for (uint32_t i : joins) Settle(run, run.tasks[i], now);
    if (!run.retell.empty()) Retell(run);
    if (sweep) Sweep(run, now);
    MaybeFinish(run);
  }
  return finished;
}

void RunManager::Retell(LiveRun& run) {
  if (run.finished || run.cancelled) return;
  for (const auto& [initiator, work] : run.work) {
    v1::ControllerMessage message;
    v1::Schedule& update = *message.mutable_schedule();
    for (const std::string& target : run.retell) {
      if (target != initiator) update.add_targets()->set_agent(target);
    }
    if (update.targets_size() == 0) continue;
    FillSchedule(run, update);
    registry_->Send(initiator, std::move(message));  // one not connected gets its schedule anew
  }
  run.retell.clear();
}

void RunManager::Sweep(LiveRun& run, Clock::time_point now) {
  const bool past_deadline = now > run.deadline;
  std::set<std::string> dropped;  // targets lost since the last sweep
  while (run.next_open < run.tasks.size() && run.tasks[run.next_open].final) ++run.next_open;
  for (size_t i = run.next_open; i < run.tasks.size(); ++i) {
    LiveTask& task = run.tasks[i];
    if (task.final) continue;
    if (past_deadline) {
      Finalize(run, task, TaskState::kTimedOut);
    } else if (task.initiator_seen) {
      continue;  // a join: settled each tick
    } else if (task.assigned) {
      if (now - task.assigned_at > task.timeout) Finalize(run, task, TaskState::kTimedOut);
    } else {
      // Not started: its initiator runs it unless one of its agents is gone. A member whose
      // stream is down keeps its schedule (it runs it on its own).
      const std::string& source = task.record.source;
      const std::string& target = task.record.target;
      if (members_.count(source) && members_.count(target)) continue;
      // Known lost: at once. Not seen since this controller (re)started: after a grace.
      if (lost_agents_.count(source) || lost_agents_.count(target) ||
          now - run.loaded_at > options_.reconnect_grace) {
        Finalize(run, task, TaskState::kAgentLost);
        if (!members_.count(target) && run.dropped_targets.insert(target).second) {
          dropped.insert(target);
        }
      }
    }
  }
  if (dropped.empty()) return;
  // Their initiators skip them rather than test an agent that is gone.
  for (const auto& [agent, work] : run.work) {
    v1::ControllerMessage cancel;
    cancel.mutable_cancel()->set_run_id(run.record.run_id);
    for (const std::string& target : dropped) cancel.mutable_cancel()->add_targets(target);
    registry_->Send(agent, std::move(cancel));
  }
}

bool RunManager::PausedForStore(Clock::time_point now) {
  if (writer_->failing()) {
    if (!paused_since_) paused_since_ = now;
    return true;
  }
  if (!paused_since_) return false;
  const auto pause = now - *paused_since_;
  paused_since_.reset();
  for (auto& [id, run] : runs_) {
    run.deadline += pause;
    for (size_t i = run.next_open; i < run.tasks.size(); ++i) {
      LiveTask& task = run.tasks[i];
      if (task.final) continue;
      task.assigned_at += pause;
      task.initiator_at += pause;
    }
  }
  return false;
}

absl::StatusOr<RunProgress> RunManager::Progress(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    // A finished run is counted exactly, like its report.
    if (it != runs_.end() && !it->second.finished) {
      const LiveRun& run = it->second;
      RunProgress p;
      p.run_id = run_id;
      p.state = RunState::kRunning;
      p.total = run.tasks.size();
      p.done = run.final_count;
      p.pass = run.pass;
      p.deviation = run.deviation;
      p.inconclusive = run.inconclusive;
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
  // The store writer may not have caught up with a live run: its final states and the
  // run's own come from memory.
  std::map<uint64_t, TaskState> live_states;
  std::optional<RunState> live_state;
  int64_t finished_unix_ms = (*run)->finished_unix_ms;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = runs_.find(run_id); it != runs_.end()) {
      if (it->second.finished) {
        live_state = it->second.record.state;
        finished_unix_ms = it->second.record.finished_unix_ms;
      }
      for (const LiveTask& t : it->second.tasks) {
        if (!t.final) {
          open.insert(t.record.task_id);
        } else if (t.record.state != TaskState::kPending) {
          live_states[t.record.task_id] = t.record.state;
        }
      }
    }
  }
  for (TaskRecord& task : *tasks) {
    if (auto it = live_states.find(task.task_id); it != live_states.end()) task.state = it->second;
  }
  RunReport report;
  report.plan = (*run)->plan;
  report.progress.run_id = run_id;
  report.progress.state = live_state.value_or((*run)->state);
  report.progress.finished_unix_ms = finished_unix_ms;
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
