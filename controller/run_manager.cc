#include "controller/run_manager.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "controller/plan_validator.h"
#include "core/monotonic_clock.h"

namespace rstmesh {
namespace {

// How often open tasks are swept for deadlines, timeouts and lost agents.
constexpr std::chrono::seconds kSweepInterval{1};

}  // namespace

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
      absl::MutexLock known(&known_mu_);
      known_runs_[static_cast<uint32_t>(RunNumberOf(run.run_id))] = run.total_tasks;
      if (!run.request_id.empty()) run_of_request_[run.request_id] = run.run_id;
    }
    // With replicas, a running run goes live where its lease is taken (Adopt).
    if (run.state != RunState::kRunning || options_.ownership != nullptr) continue;
    absl::StatusOr<LiveRun> live = Load(run);
    if (!live.ok()) return live.status();
    absl::MutexLock lock(&mu_);
    Install(std::move(*live));
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

absl::StatusOr<LiveRun> RunManager::Load(const RunRecord& run) {
  // Read without the lock, one observation at a time: the run keeps a few bits of each.
  auto tasks = store_->GetTasks(run.run_id);
  if (!tasks.ok()) return tasks.status();
  auto states = store_->GetTaskStates(run.run_id);
  if (!states.ok()) return states.status();
  LiveRun live = LiveRun::Make(run, *tasks, nullptr, options_.zone_label, Now());
  for (const auto& [task_id, state] : *states) {
    const uint32_t index = TaskId::FromRaw(task_id).index();
    if (index >= 1 && index <= live.live.size()) {
      live.live[index - 1].state = static_cast<uint8_t>(state);
    }
  }
  const uint32_t now_ms = live.Ms(Now());
  absl::Status walked = store_->ForEachObservation(run.run_id, [&](v1::Observation&& obs) {
    const uint32_t index = TaskId::FromRaw(obs.task_id()).index();
    if (index >= 1 && index <= live.live.size()) {
      live.Take(index - 1, Arrival::Of(std::move(obs)), now_ms);
    }
  });
  if (!walked.ok()) return walked;
  return live;
}

absl::Status RunManager::Adopt(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    if (runs_.count(run_id)) return absl::OkStatus();
  }
  absl::StatusOr<std::optional<RunRecord>> record = store_->GetRun(run_id);
  if (!record.ok()) return record.status();
  if (!record->has_value() || (*record)->state != RunState::kRunning) return absl::OkStatus();
  absl::StatusOr<LiveRun> live = Load(**record);
  if (!live.ok()) return live.status();
  absl::MutexLock lock(&mu_);
  if (runs_.count(run_id)) return absl::OkStatus();
  {
    absl::MutexLock known(&known_mu_);
    uint64_t& total = known_runs_[static_cast<uint32_t>(RunNumberOf(run_id))];
    total = std::max(total, (*record)->total_tasks);
  }
  finished_.erase(run_id);
  Install(std::move(*live));
  return absl::OkStatus();
}

void RunManager::Release(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  runs_.erase(run_id);
}

void RunManager::ApplyStored(const std::vector<v1::Observation>& observations) {
  std::vector<Arrival> arrivals;
  arrivals.reserve(observations.size());
  for (const v1::Observation& obs : observations) arrivals.push_back(Arrival::Of(obs));
  Apply(arrivals);
}

void RunManager::TakeProgress(const std::string& agent_id, uint32_t run_number, uint64_t started) {
  absl::MutexLock lock(&progress_mu_);
  if (started_in_.size() < kMaxProgressQueued) {
    started_in_.push_back(Started{agent_id, run_number, started});
  }
}

void RunManager::KnowRuns(const std::vector<std::pair<uint32_t, uint64_t>>& totals) {
  absl::MutexLock known(&known_mu_);
  for (const auto& [number, total] : totals) {
    uint64_t& known_total = known_runs_[number];
    known_total = std::max(known_total, total);
  }
}

std::vector<RunProgress> RunManager::LiveRuns() {
  absl::MutexLock lock(&mu_);
  std::vector<RunProgress> live;
  for (const auto& [id, run] : runs_) live.push_back(run.Progress());
  return live;
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

void RunManager::Install(LiveRun run) {
  for (uint32_t i = 0; i < run.live.size(); ++i) {
    if (!run.EndedInStore(i)) continue;
    const auto state = static_cast<TaskState>(run.live[i].state);
    run.Close(i, state == TaskState::kPending ? TaskState::kDone : state);
  }
  std::string id = run.record.run_id;
  LiveRun& live = runs_[id] = std::move(run);
  // Keys before any schedule, so that responders know them first (an agent that is not
  // connected yet gets them, and its schedule, when it registers).
  for (const std::string& agent : live.agent_ids) SendKey(live, agent, false);
  for (const std::string& agent : live.agent_ids) {
    std::optional<v1::AgentInfo> info = registry_->Find(agent);
    if (info) live.told[agent] = absl::StrCat(info->data_endpoint(), "/", info->closed_port());
    if (!info || !info->connected()) live.paused.insert(agent);
  }
  for (const std::string& agent : live.agent_ids) pacer_.Due(id, agent);
  MaybeFinish(live);
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

void RunManager::MarkStarted(LiveRun& run, uint32_t position, Clock::time_point now) {
  LiveTask& task = run.live[position];
  task.assigned = true;
  task.assigned_ms = run.Ms(now);
  task.responder_id = CurrentResponder(run, run.tasks.TargetAt(position));
}

uint32_t RunManager::CurrentResponder(LiveRun& run, uint32_t agent) {
  // Valid while the registry's membership is what it was (a new process or a lost agent
  // changes its generation): one registry lookup per agent, not per task.
  if (const uint64_t generation = registry_->generation();
      generation != run.responders_generation) {
    run.responders_generation = generation;
    run.responders_now.assign(run.tasks.agent_count(), kResponderUnknown);
  }
  uint32_t& id = run.responders_now[agent];
  if (id == kResponderUnknown) {
    id = 0;
    if (std::optional<AgentRegistry::Liveness> liveness =
            registry_->LivenessOf(run.tasks.Agent(agent))) {
      id = ResponderId(Intern(liveness->incarnation), Intern(liveness->host_incarnation));
    }
  }
  return id;
}

size_t RunManager::SendExplicit(LiveRun& run, const std::string& source,
                                const std::vector<uint32_t>& indices) {
  if (indices.empty()) return 0;
  v1::ControllerMessage message;
  v1::Schedule& part = *message.mutable_schedule();
  std::map<std::string, uint32_t> target_of;
  for (uint32_t i : indices) {
    const std::string& target = run.tasks.Agent(run.tasks.TargetAt(i));
    auto [it, fresh] = target_of.emplace(target, part.targets_size());
    if (fresh) part.add_targets()->set_agent(target);
    v1::ScheduledTask* task = part.add_tasks();
    task->set_task_id(run.tasks.TaskIdAt(i));
    task->set_target(it->second);
    task->set_scenario(run.tasks.ScenarioAt(i));
    *task->mutable_params() = run.tasks.ParamsAt(i);
  }
  FillSchedule(run, part);
  const size_t bytes = message.ByteSizeLong();
  if (!registry_->Send(source, std::move(message))) return 0;  // resent when it is back
  const auto now = Now();
  for (uint32_t i : indices) {
    if (!run.live[i].assigned) MarkStarted(run, i, now);
  }
  return bytes;
}

void RunManager::PumpSchedules(Clock::time_point now) {
  pacer_.Pump(
      now, [this](const std::string& agent) { return registry_->Queued(agent) == 0; },
      [this](const std::string& run_id, const std::string& agent) -> size_t {
        auto it = runs_.find(run_id);
        return it == runs_.end() ? 0 : SendSchedule(it->second, agent);
      });
}

size_t RunManager::SendSchedule(LiveRun& run, const std::string& agent) {
  if (run.finished || run.cancelled) return 0;
  size_t bytes = 0;
  if (auto it = run.work.find(agent); it != run.work.end()) {
    InitiatorWork& work = it->second;
    // Past what the agent (or its predecessor) said it started, the work that is over.
    uint64_t resume = work.started;
    const TaskLayout& layout = run.tasks.layout();
    while (resume < work.size) {
      const LiveTask& task =
          run.live[layout.WorkAt(work.layout_index, kTargetsPerPart, resume) - 1];
      if (!task.final && !task.initiator_seen) break;
      ++resume;
    }
    // With nothing left to start the agent still hears where its targets are and whether
    // they wait: tests it held for a target paused while it was away (it counts them as
    // started) go on only when it learns that the target is back.
    const bool targets_only = resume >= work.size;
    {
      for (v1::Schedule& part : run.tasks.layout().Parts(work.layout_index, kTargetsPerPart)) {
        part.set_resume_from(resume);
        if (targets_only) {
          part.clear_blocks();
          part.clear_tasks();
        }
        FillSchedule(run, part);
        v1::ControllerMessage message;
        *message.mutable_schedule() = std::move(part);
        const size_t size = message.ByteSizeLong();
        if (!registry_->Send(agent, std::move(message))) return bytes;  // sent when it is back
        bytes += size;
      }
    }
  }
  // Idle discovery's later rounds: the ones it has not reported (it ignores those it has).
  std::vector<uint32_t> explicit_tasks;
  const int source = run.tasks.AgentIndex(agent);
  for (size_t i = run.tasks.layout().size(); i < run.tasks.size(); ++i) {
    const LiveTask& task = run.live[i];
    if (task.final || task.initiator_seen) continue;
    if (static_cast<int>(run.tasks.SourceAt(static_cast<uint32_t>(i))) != source) continue;
    explicit_tasks.push_back(static_cast<uint32_t>(i));
  }
  return bytes + SendExplicit(run, agent, explicit_tasks);
}

void RunManager::OnProgress(const std::string& agent_id, const v1::ScheduleProgress& progress) {
  if (options_.ownership != nullptr) {
    // The runs' owners take it from the database (TakeProgress); the delays are counted
    // where the agent reports.
    options_.ownership->Publish(agent_id, progress);
    v1::ScheduleProgress delays = progress;
    delays.clear_runs();
    absl::MutexLock lock(&progress_mu_);
    if (progress_in_.size() < kMaxProgressQueued) progress_in_.emplace_back(agent_id, delays);
    return;
  }
  // Taken in by the scheduler's next tick: the stream's reaction does not wait for the lock
  // that joining holds. Reports only bring forward what the observations tell anyway.
  absl::MutexLock lock(&progress_mu_);
  if (progress_in_.size() < kMaxProgressQueued) progress_in_.emplace_back(agent_id, progress);
}

void RunManager::ApplyProgress() {
  std::vector<std::pair<std::string, v1::ScheduleProgress>> reports;
  std::vector<Started> started;
  {
    absl::MutexLock lock(&progress_mu_);
    reports.swap(progress_in_);
    started.swap(started_in_);
  }
  for (const auto& [agent_id, progress] : reports) ApplyProgress(agent_id, progress);
  const auto now = Now();
  for (const Started& s : started) ApplyStarted(s.agent_id, s.run_number, s.started, now);
}

void RunManager::ApplyProgress(const std::string& agent_id, const v1::ScheduleProgress& progress) {
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
    ApplyStarted(agent_id, p.run_number(), p.started(), now);
  }
}

void RunManager::ApplyStarted(const std::string& agent_id, uint32_t run_number, uint64_t reported,
                              Clock::time_point now) {
  auto run = runs_.find(RunIdFor(run_number));
  if (run == runs_.end() || run->second.finished) return;
  auto work = run->second.work.find(agent_id);
  if (work == run->second.work.end()) return;
  InitiatorWork& w = work->second;
  const uint64_t started = std::min<uint64_t>(reported, w.size);
  const TaskLayout& layout = run->second.tasks.layout();
  for (uint64_t k = w.started; k < started; ++k) {
    const uint32_t position = layout.WorkAt(w.layout_index, kTargetsPerPart, k) - 1;
    const LiveTask& task = run->second.live[position];
    if (!task.final && !task.assigned) MarkStarted(run->second, position, now);
  }
  w.started = std::max(w.started, started);
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

uint32_t RunManager::ResponderId(uint32_t incarnation, uint32_t host) {
  if (incarnation == 0 && host == 0) return 0;
  auto [it, fresh] = responder_ids_.emplace(uint64_t{incarnation} << 32 | host,
                                            static_cast<uint32_t>(responders_.size()));
  if (fresh) responders_.emplace_back(incarnation, host);
  return it->second;
}

TaskState RunManager::ResponderReplaced(const LiveRun& run, uint32_t position) {
  const LiveTask& task = run.live[position];
  const std::optional<AgentRegistry::Liveness> now =
      registry_->LivenessOf(run.tasks.Agent(run.tasks.TargetAt(position)));
  const uint32_t host = ResponderOf(task).second;
  const bool same_host = now.has_value() && host != 0 && Intern(now->host_incarnation) == host;
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
  auto layout = std::make_shared<const TaskLayout>(TaskLayout::Compile(plan, agents));
  // Replicas share the numbers (a sequence in the database); alone, the next after the
  // store's last.
  uint64_t shared_number = 0;
  if (options_.ownership != nullptr) {
    absl::StatusOr<uint64_t> next = options_.ownership->NextRunNumber();
    if (!next.ok()) return next.status();
    shared_number = *next;
  }
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
    number = shared_number != 0 ? shared_number : last_run_number_ + 1;
    // A retry racing the first attempt finds the run it reserves here.
    if (!request_id.empty()) {
      auto [it, fresh] = run_of_request_.emplace(request_id, RunIdFor(number));
      if (!fresh) return it->second;
    }
    last_run_number_ = std::max(last_run_number_, number);
  }
  RunRecord record;
  record.run_id = RunIdFor(number);
  record.plan = plan;
  record.created_unix_ms = UnixMillisNow();
  record.total_tasks = layout->size();
  record.agents = SelectAgents(plan.selector(), agents);
  const RunKey key = NewRunKey();
  record.run_key.assign(key.begin(), key.end());
  record.request_id = request_id;
  // Stored before anyone hears of it, outside the lock: ingest and the scheduler go on.
  // The tasks themselves are not stored: they derive from the plan and the agents. With
  // replicas, its lease is this replica's before it exists for the others.
  absl::Status created =
      options_.ownership != nullptr ? options_.ownership->Claim(record.run_id) : absl::OkStatus();
  if (created.ok()) created = store_->CreateRun(record, {});
  if (!created.ok()) {
    absl::MutexLock lock(&mu_);
    if (!request_id.empty()) run_of_request_.erase(request_id);
    return created;
  }
  LiveRun run = LiveRun::Make(record, {}, std::move(layout), options_.zone_label, Now());
  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock known(&known_mu_);
    known_runs_[static_cast<uint32_t>(number)] = record.total_tasks;
  }
  Install(std::move(run));
  // Compiling a large plan leaves freed memory behind: back to the system.
  malloc_trim(0);
  return record.run_id;
}

absl::Status RunManager::DeleteRun(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = runs_.find(run_id); it != runs_.end() && !it->second.finished) {
      return absl::FailedPreconditionError(absl::StrCat(run_id, " is running"));
    }
  }
  if (absl::Status deleted = store_->DeleteRun(run_id); !deleted.ok()) return deleted;
  absl::MutexLock lock(&mu_);
  runs_.erase(run_id);
  finished_.erase(run_id);
  for (auto it = run_of_request_.begin(); it != run_of_request_.end();) {
    it = it->second == run_id ? run_of_request_.erase(it) : std::next(it);
  }
  absl::MutexLock known(&known_mu_);
  known_runs_.erase(static_cast<uint32_t>(RunNumberOf(run_id)));
  evidence_bytes_.erase(static_cast<uint32_t>(RunNumberOf(run_id)));
  return absl::OkStatus();
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
    if ((*stored)->state == RunState::kRunning && options_.ownership != nullptr) {
      // Live at another replica: its owner cancels it.
      mu_.Unlock();
      absl::Status asked = options_.ownership->RequestCancel(run_id);
      mu_.Lock();
      return asked;
    }
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
  for (uint32_t i = 0; i < run.live.size(); ++i) {
    if (!run.live[i].final) Finalize(run, i, TaskState::kTimedOut);
  }
  MaybeFinish(run);
  return absl::OkStatus();
}

void RunManager::Ingest(const std::string& /*agent_id*/, Observations& observations,
                        std::function<void(const absl::Status&)> done) {
  // Only tasks that exist are stored: a confused or hostile agent cannot fill the store
  // with observations of runs or tasks that never were. Anything else is dropped (and
  // acknowledged, so that it is not resent forever).
  std::vector<const v1::Observation*> valid;
  valid.reserve(observations.size());
  std::string unknown;
  {
    absl::MutexLock lock(&known_mu_);
    for (v1::Observation& obs : observations) {
      const TaskId id = TaskId::FromRaw(obs.task_id());
      if (!id.valid()) continue;
      if (obs.role() != v1::ROLE_INITIATOR && obs.role() != v1::ROLE_RESPONDER) continue;
      auto run = known_runs_.find(id.run());
      if (run == known_runs_.end() || id.index() > run->second) {
        if (options_.ownership != nullptr && unknown.empty()) {
          // Another replica's run (or tasks) this one has not heard of yet: sent again.
          unknown = absl::StrCat("run ", RunIdFor(id.run()), " task ", id.index(),
                                 ": not known to this controller replica yet");
        }
        continue;
      }
      // The row carries the run (the store puts it back into what it reads).
      obs.clear_run_id();
      // Packet evidence is kept up to a budget per run; past it, the headers stay.
      if (obs.has_evidence() && !obs.evidence().pcap().empty()) {
        uint64_t& kept = evidence_bytes_[id.run()];
        const uint64_t size = obs.evidence().pcap().size();
        if (kept + size > kEvidenceBytesPerRun) {
          obs.mutable_evidence()->clear_pcap();
          obs.mutable_evidence()->set_note(absl::StrCat("pcap not kept: the run's ",
                                                        kEvidenceBytesPerRun >> 20,
                                                        " MiB of packet evidence are used up"));
        } else {
          kept += size;
        }
      }
      valid.push_back(&obs);
    }
  }
  if (!unknown.empty()) {
    done(absl::UnavailableError(unknown));
    return;
  }
  if (valid.empty()) {
    done(absl::OkStatus());
    return;
  }
  // Outside the lock: what the store keeps (serialized) and what the runs take of it.
  std::vector<ObservationRow> rows;
  std::vector<Arrival> arrivals;
  rows.reserve(valid.size());
  arrivals.reserve(valid.size());
  uint32_t run_number = 0;
  std::string run_id;
  for (const v1::Observation* obs : valid) {
    if (const uint32_t number = TaskId::FromRaw(obs->task_id()).run(); number != run_number) {
      run_number = number;
      run_id = RunIdFor(number);
    }
    rows.push_back(ObservationRow::Of(run_id, *obs));
    arrivals.push_back(Arrival::Of(*obs));
  }
  writer_->SubmitObservations(
      std::move(rows),
      [this, arrivals = std::move(arrivals), done = std::move(done)](const absl::Status& status) {
        // Runs live here are joined now; with replicas, the others' owners hear of them
        // through the database (ApplyStored).
        if (status.ok()) Apply(arrivals);
        done(status);
      });
}

absl::Status RunManager::OnObservations(const std::string& agent_id,
                                        const std::vector<v1::Observation>& observations) {
  absl::Notification finished;
  absl::Status outcome;
  Observations batch(observations.begin(), observations.end());
  Ingest(agent_id, batch, [&](const absl::Status& status) {
    outcome = status;
    finished.Notify();
  });
  finished.WaitForNotification();
  return outcome;
}

void RunManager::Apply(const std::vector<Arrival>& stored) {
  absl::MutexLock lock(&mu_);
  const auto now = Now();
  for (const Arrival& obs : stored) {
    uint32_t position = 0;
    LiveRun* run = FindTask(obs.task_id, &position);
    if (run == nullptr) continue;
    LiveTask& task = run->live[position];
    if (task.final) continue;  // a late report (the task ended otherwise); it is stored
    // Rounded up: "heard after" stays strict.
    if (!run->Take(position, obs, run->Ms(now) + 1)) continue;
    if (obs.role == v1::ROLE_INITIATOR && !obs.target_incarnation.empty()) {
      // The responder it dialled, as its schedule said (what the progress said may be late).
      task.responder_id = ResponderId(Intern(obs.target_incarnation), ResponderOf(task).second);
    }
    Settle(*run, position, now);
  }
  for (auto it = runs_.begin(); it != runs_.end();) {
    LiveRun& run = (it++)->second;
    MaybeFinish(run);
  }
}

void RunManager::Settle(LiveRun& run, uint32_t position, Clock::time_point now) {
  LiveTask& task = run.live[position];
  if (task.final || !task.initiator_seen) return;
  const std::string& target = run.tasks.Agent(run.tasks.TargetAt(position));
  if (task.peer_lost) {
    // A host that lost the connection is one whose agent came back as a new process
    // (rebooted, restarted). One that is simply gone may have been killed, and a killed
    // process's kernel ends its connections itself: nothing to judge the path by.
    Finalize(run, position,
             ReturnedAsNewProcess(target, ResponderOf(task).first)
                 ? ResponderReplaced(run, position)
                 : TaskState::kAgentLost);
    return;
  }
  const bool responder_expected = run.ResponderExpected(position);
  if (task.responder_seen || (!responder_expected && task.InitiatorClean())) {
    Finalize(run, position, TaskState::kDone);
    return;
  }
  // Without the responder's account, what the initiator saw is the path's doing only if the
  // responder's agent was alive: heard from, as the same process, after the initiator
  // reported. A hung host's kernel still accepts connections and then answers nothing,
  // which would read as a path that swallows resets; a restarted one refuses them.
  if (const uint32_t current = CurrentResponder(run, run.tasks.TargetAt(position)),
      dialled = ResponderOf(task).first;
      current != 0 && dialled != 0 && responders_[current].first != dialled) {
    Finalize(run, position, ResponderReplaced(run, position));
    return;
  }
  const auto initiator_at = run.At(task.initiator_ms);
  // Its report is usually on its way: nothing to decide before the grace is over.
  if (responder_expected && now - initiator_at <= options_.responder_grace) return;
  const std::optional<AgentRegistry::Liveness> responder = registry_->LivenessOf(target);
  const bool alive_after = responder.has_value() && responder->last_heard > initiator_at;
  if (!responder_expected && alive_after) {
    Finalize(run, position, TaskState::kDone);
  } else if (!alive_after && now - initiator_at > options_.responder_grace) {
    Finalize(run, position, TaskState::kResponderSilent);
  } else if (now - initiator_at > 3 * options_.responder_grace) {
    // Alive but its report has not come: it may be far behind (a busy controller refuses
    // batches for a while); judged from what arrived after a longer wait.
    Finalize(run, position, TaskState::kDone);
  }
}

void RunManager::OnAgentRestarted(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  for (auto it = runs_.begin(); it != runs_.end();) {
    LiveRun& run = (it++)->second;
    const int agent = run.tasks.AgentIndex(agent_id);
    if (agent < 0) continue;
    for (uint32_t i = 0; i < run.live.size(); ++i) {
      LiveTask& task = run.live[i];
      if (task.final || !task.assigned || task.initiator_seen) continue;
      if (static_cast<int>(run.tasks.SourceAt(i)) == agent) {
        // The process running the test is gone, and with it what it saw.
        Finalize(run, i, TaskState::kAgentLost);
      } else if (static_cast<int>(run.tasks.TargetAt(i)) == agent) {
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
    const int agent = run.tasks.AgentIndex(agent_id);
    if (agent < 0) continue;
    for (uint32_t i = 0; i < run.live.size(); ++i) {
      LiveTask& task = run.live[i];
      if (task.final || !task.assigned) continue;  // not started: the sweep decides
      const bool source = static_cast<int>(run.tasks.SourceAt(i)) == agent;
      const bool target = static_cast<int>(run.tasks.TargetAt(i)) == agent;
      if (!source && !target) continue;
      if (task.initiator_seen) {
        const bool responder_missing =
            target && !task.responder_seen && (run.ResponderExpected(i) || !task.InitiatorClean());
        Finalize(run, i, responder_missing ? TaskState::kResponderSilent : TaskState::kDone);
      } else if (target && !source) {
        // The initiator is still testing against a peer that vanished (crashed, rebooted):
        // what it sees next is the point. Its own deadlines bound the wait.
        task.peer_lost = true;
      } else {
        Finalize(run, i, TaskState::kAgentLost);
      }
    }
    MaybeFinish(run);
  }
}

LiveRun* RunManager::FindTask(uint64_t task_id, uint32_t* position) {
  auto it = runs_.find(RunIdFor(RunNumberOfTask(task_id)));
  if (it == runs_.end()) return nullptr;
  const TaskId id = TaskId::FromRaw(task_id);
  if (id.index() == 0 || id.index() > it->second.live.size()) return nullptr;
  *position = id.index() - 1;
  return &it->second;
}

void RunManager::Finalize(LiveRun& run, uint32_t position, TaskState state) {
  if (!run.Close(position, state)) return;
  if (state != TaskState::kDone) {
    writer_->SubmitTaskState(run.record.run_id, run.tasks.TaskIdAt(position), state);
  }
}

void RunManager::AdvanceDiscovery(LiveRun& run) {
  if (!run.discovery || !run.discovery_dirty || run.cancelled || run.live.empty()) return;
  if (Now() > run.deadline) return;
  run.discovery_dirty = false;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<IdleProbe>> pairs;
  for (uint32_t i = 0; i < run.live.size(); ++i) {
    pairs[{run.tasks.SourceAt(i), run.tasks.TargetAt(i)}].push_back(run.probes[i]);
  }
  const uint32_t number = run.number;
  std::vector<TaskRecord> added;
  for (const auto& [pair, probes] : pairs) {
    IdleSearchStep step = AdvanceIdleSearch(*run.discovery, probes);
    for (uint32_t idle_ms : step.next) {
      TaskRecord t;
      t.task_id = TaskId(number, static_cast<uint32_t>(run.live.size() + added.size() + 1)).raw();
      t.source = run.tasks.Agent(pair.first);
      t.target = run.tasks.Agent(pair.second);
      t.scenario = v1::SCENARIO_IDLE_HOLD;
      t.params = IdleProbeParams(idle_ms, step.next_round);
      added.push_back(std::move(t));
    }
  }
  if (added.empty()) return;
  // Stored by the writer, in order: before any observation of them (their initiators hear
  // of them below, so every observation of them is queued after).
  writer_->SubmitAddTasks(run.record.run_id, added);
  {
    absl::MutexLock known(&known_mu_);
    known_runs_[run.number] += added.size();
  }
  // Amendments to the initiators' schedules.
  std::map<std::string, std::vector<uint32_t>> by_source;
  for (const TaskRecord& t : added) {
    by_source[t.source].push_back(static_cast<uint32_t>(run.live.size()));
    run.live.emplace_back();
    run.probes.push_back(ProbeFromObservation(t.params, nullptr, false));
  }
  run.tasks.Add(added);
  run.record.total_tasks = run.live.size();
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
    pacer_.Due(id, agent_id);
  }
}

void RunManager::MaybeFinish(LiveRun& run) {
  AdvanceDiscovery(run);
  if (run.final_count < run.live.size() || run.finished) return;
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
    std::vector<RunResults> results = Tick();
    if (!results.empty() && on_results_) {
      mu_.Unlock();
      on_results_(std::move(results));
      mu_.Lock();
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.tick));
  }
}

std::vector<RunManager::RunResults> RunManager::Tick() {
  ApplyProgress();
  auto results_of = [](const LiveRun& run) {
    return RunResults{run.record.run_id, run.record.plan.name(),     run.Counts(),
                      run.Progress(),    run.record.created_unix_ms, false};
  };
  // Finished runs leave the live set (their reports come from the store); their counts stay.
  std::vector<RunResults> finished;
  for (auto it = runs_.begin(); it != runs_.end();) {
    LiveRun& run = it->second;
    if (run.finished && writer_->Stored(run.finish_place)) {
      finished_[it->first] = run.Progress();
      finished.push_back(results_of(run));
      finished.back().finished = true;
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  if (runs_.empty()) return finished;
  const auto now = Now();
  if (PausedForStore(now)) return finished;
  PumpSchedules(now);
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
  // Live counts for /metrics, once a second per run whose judged tasks changed.
  for (auto& [run_id, run] : runs_) {
    if (!sweep && run.published_final != ~size_t{0}) continue;
    if (run.published_final == run.final_count) continue;
    run.published_final = run.final_count;
    finished.push_back(results_of(run));
  }
  for (auto& [run_id, run] : runs_) {
    // The tasks waiting for their responder's side: what settles them without a report
    // (liveness, the grace) is looked at once a second; a report settles its task at once.
    if (sweep) {
      const std::vector<uint32_t> awaiting(run.awaiting.begin(), run.awaiting.end());
      for (uint32_t i : awaiting) Settle(run, i, now);
    }
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
  // Which of the run's agents are members now, by index: looked up once, not per task.
  std::vector<uint8_t> member(run.tasks.agent_count());
  std::vector<uint8_t> lost(run.tasks.agent_count());
  for (uint32_t a = 0; a < member.size(); ++a) {
    member[a] = members_.count(run.tasks.Agent(a)) > 0;
    lost[a] = lost_agents_.count(run.tasks.Agent(a)) > 0;
  }
  const bool grace_over = now - run.loaded_at > options_.reconnect_grace;
  // Usually every agent of the run is a member: then only started tasks can time out.
  const bool all_members = std::all_of(member.begin(), member.end(), [](uint8_t m) { return m; });
  std::set<std::string> dropped;  // targets lost since the last sweep
  while (run.next_open < run.live.size() && run.live[run.next_open].final) ++run.next_open;
  for (uint32_t i = static_cast<uint32_t>(run.next_open); i < run.live.size(); ++i) {
    const LiveTask& task = run.live[i];
    if (task.final) continue;
    if (past_deadline) {
      Finalize(run, i, TaskState::kTimedOut);
    } else if (task.initiator_seen) {
      continue;  // a join: Tick settles it
    } else if (task.assigned) {
      if (now - run.At(task.assigned_ms) > run.TimeoutOf(i)) {
        Finalize(run, i, TaskState::kTimedOut);
      }
    } else if (!all_members) {
      // Not started: its initiator runs it unless one of its agents is gone. A member whose
      // stream is down keeps its schedule (it runs it on its own).
      const uint32_t source = run.tasks.SourceAt(i);
      const uint32_t target = run.tasks.TargetAt(i);
      if (member[source] && member[target]) continue;
      // Known lost: at once. Not seen since this controller (re)started: after a grace.
      if (lost[source] || lost[target] || grace_over) {
        Finalize(run, i, TaskState::kAgentLost);
        if (!member[target] && run.dropped_targets.insert(run.tasks.Agent(target)).second) {
          dropped.insert(run.tasks.Agent(target));
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

void RunManager::SetArrivalsBehind(bool behind) {
  absl::MutexLock lock(&mu_);
  arrivals_behind_ = behind;
}

bool RunManager::PausedForStore(Clock::time_point now) {
  if (writer_->failing() || arrivals_behind_) {
    if (!paused_since_) paused_since_ = now;
    return true;
  }
  if (!paused_since_) return false;
  const auto pause = now - *paused_since_;
  paused_since_.reset();
  const auto pause_ms =
      static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(pause).count());
  for (auto& [id, run] : runs_) {
    run.deadline += pause;
    for (size_t i = run.next_open; i < run.live.size(); ++i) {
      LiveTask& task = run.live[i];
      if (task.final) continue;
      if (task.assigned) task.assigned_ms += pause_ms;
      if (task.initiator_seen) task.initiator_ms += pause_ms;
    }
  }
  return false;
}

absl::StatusOr<RunProgress> RunManager::Progress(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = runs_.find(run_id); it != runs_.end()) {
      return it->second.Progress();
    }
    if (auto it = finished_.find(run_id); it != finished_.end()) return it->second;
  }
  // Live at another replica: as its owner last published it.
  if (options_.ownership != nullptr) {
    if (std::optional<RunProgress> published = options_.ownership->Published(run_id)) {
      return *published;
    }
  }
  // A run that ended before this controller started: counted from the store.
  absl::StatusOr<ReportSource> source = SourceFor(run_id);
  if (!source.ok()) return source.status();
  RunProgress p;
  p.run_id = run_id;
  p.state = source->record.state;
  p.finished_unix_ms = source->record.finished_unix_ms;
  p.total = source->tasks.size();
  // Running at another replica that has published nothing yet: its size only (the store
  // cannot tell a task not started from one that ended without reports).
  if (options_.ownership != nullptr && p.state == RunState::kRunning) return p;
  absl::Status walked = rstmesh::ForEachResult(
      *store_, *source, [&](const TaskRecord&, const v1::Observation*, v1::TaskResult&& result) {
        ++p.done;
        if (result.verdict() == v1::VERDICT_PASS) {
          ++p.pass;
        } else if (result.verdict() == v1::VERDICT_DEVIATION) {
          ++p.deviation;
        } else {
          ++p.inconclusive;
        }
      });
  if (!walked.ok()) return walked;
  if (p.state != RunState::kRunning) {
    // An ended run does not change: counted once (a few bytes per run).
    absl::MutexLock lock(&mu_);
    finished_.emplace(run_id, p);
  }
  return p;
}

absl::StatusOr<ReportSource> RunManager::SourceFor(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = runs_.find(run_id); it != runs_.end()) {
      // The store writer may not have caught up with a live run: its task states and the
      // run's own come from memory.
      const LiveRun& run = it->second;
      ReportSource source;
      source.record = run.record;
      if (!run.finished) source.record.state = RunState::kRunning;
      source.tasks = run.tasks;
      source.states.resize(run.live.size());
      source.open.resize(run.live.size());
      for (size_t i = 0; i < run.live.size(); ++i) {
        source.states[i] = run.live[i].state;
        source.open[i] = !run.live[i].final;
      }
      return source;
    }
  }
  absl::StatusOr<std::optional<RunRecord>> record = store_->GetRun(run_id);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return absl::NotFoundError(absl::StrCat("no run ", run_id));
  return StoredReportSource(*store_, **record);
}

absl::StatusOr<RunReport> RunManager::Report(const std::string& run_id,
                                             const ReportOptions& options) {
  absl::StatusOr<ReportSource> source = SourceFor(run_id);
  if (!source.ok()) return source.status();
  return BuildReport(*store_, *source, options_.zone_label, options);
}

}  // namespace rstmesh
