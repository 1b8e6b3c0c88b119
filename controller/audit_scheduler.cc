#include "controller/audit_scheduler.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "controller/findings_diff.h"
#include "controller/plan_validator.h"
#include "core/monotonic_clock.h"
#include "telemetry/exposition.h"

namespace rstmesh {
namespace {

// The findings of a run as a report carries them, for DiffFindings.
absl::StatusOr<v1::Report> Findings(RunManager& runs, const RunRecord& record) {
  absl::StatusOr<RunReport> report = runs.Report(record.run_id);
  if (!report.ok()) return report.status();
  v1::Report out;
  out.mutable_status()->set_run_id(record.run_id);
  out.mutable_status()->set_plan_name(record.plan.name());
  out.mutable_status()->set_state(std::string(RunStateName(record.state)));
  for (v1::Finding& f : report->findings) *out.add_findings() = std::move(f);
  return out;
}

}  // namespace

AuditScheduler::AuditScheduler(Store* store, RunManager* runs, AgentRegistry* registry,
                               Options options)
    : store_(store), runs_(runs), registry_(registry), options_(std::move(options)) {}

AuditScheduler::~AuditScheduler() { Stop(); }

int64_t AuditScheduler::Now() const {
  return options_.now_unix_ms ? options_.now_unix_ms() : UnixMillisNow();
}

void AuditScheduler::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << "rstmesh-controller: " << line << std::endl;
  }
}

absl::Status AuditScheduler::Start() {
  if (absl::Status loaded = Reload(); !loaded.ok()) return loaded;
  reloaded_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

AuditScheduler::Entry AuditScheduler::MakeEntry(const ScheduleRecord& record,
                                                const AuditSchedule& schedule,
                                                const std::vector<RunRecord>& runs, int64_t now) {
  Entry entry{record, schedule, {}};
  entry.info.name = record.name;
  entry.info.plan = record.plan;
  entry.info.describe = schedule.Describe();
  entry.info.last_due_unix_ms = record.last_due_unix_ms;
  entry.info.next_due_unix_ms = schedule.NextDue(record.last_due_unix_ms, now);
  // An audit of it still running (the controller resumes it) is its current one.
  for (const RunRecord& run : runs) {
    if (run.plan.name() == record.name && run.state == RunState::kRunning) {
      entry.info.current_run = run.run_id;
    }
  }
  return entry;
}

absl::Status AuditScheduler::Reload() {
  absl::StatusOr<std::vector<ScheduleRecord>> stored = store_->ListSchedules();
  if (!stored.ok()) return stored.status();
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns();
  if (!runs.ok()) return runs.status();
  const int64_t now = Now();
  absl::MutexLock lock(&mu_);
  std::map<std::string, Entry> entries;
  for (ScheduleRecord& record : *stored) {
    auto known = entries_.find(record.name);
    if (known != entries_.end() &&
        known->second.record.plan.SerializeAsString() == record.plan.SerializeAsString() &&
        known->second.record.last_due_unix_ms >= record.last_due_unix_ms) {
      entries.emplace(record.name, std::move(known->second));
      continue;
    }
    absl::StatusOr<AuditSchedule> schedule = AuditSchedule::Of(record.plan.schedule());
    if (!schedule.ok()) {  // stored by a binary that took what this one does not
      if (known == entries_.end()) {
        Log(absl::StrCat("schedule '", record.name,
                         "' is not usable: ", schedule.status().message()));
      }
      continue;
    }
    Entry entry = MakeEntry(record, *schedule, *runs, now);
    if (known != entries_.end()) {
      // Changed through another replica: its counts here go on.
      const Info& counts = known->second.info;
      entry.info.started = counts.started;
      entry.info.skipped = counts.skipped;
      entry.info.failed = counts.failed;
      entry.info.pruned = counts.pruned;
      entry.summarized = known->second.summarized;
    }
    entries.emplace(record.name, std::move(entry));
  }
  entries_ = std::move(entries);
  return absl::OkStatus();
}

void AuditScheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<AuditScheduler::Info> AuditScheduler::Put(const v1::Plan& plan) {
  if (!plan.has_schedule()) {
    return absl::InvalidArgumentError(
        "schedule: the plan has none (schedule: {every: 15m} or {cron: \"17 3 * * *\"}); "
        "'rstmeshctl run -f' runs a plan once");
  }
  if (absl::Status valid = ValidatePlan(plan, registry_->Agents());
      absl::IsInvalidArgument(valid)) {
    return valid;  // too few agents now is no reason to refuse a schedule
  }
  absl::StatusOr<AuditSchedule> schedule = AuditSchedule::Of(plan.schedule());
  if (!schedule.ok()) return schedule.status();
  ScheduleRecord record;
  record.name = plan.name();
  record.plan = plan;
  record.created_unix_ms = Now();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(record.name); it != entries_.end()) {
      // A replaced schedule keeps its history: the next audit follows the new timing from
      // the last one's due time.
      record.last_due_unix_ms = it->second.record.last_due_unix_ms;
      record.created_unix_ms = it->second.record.created_unix_ms;
    }
  }
  if (absl::Status stored = store_->PutSchedule(record); !stored.ok()) return stored;
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[record.name];
  const std::string current = entry.info.current_run;
  const Info counts = entry.info;
  entry = Entry{record, *schedule, {}};
  entry.info = counts;
  entry.info.name = record.name;
  entry.info.plan = plan;
  entry.info.describe = schedule->Describe();
  entry.info.current_run = current;
  entry.info.last_due_unix_ms = record.last_due_unix_ms;
  entry.info.next_due_unix_ms = schedule->NextDue(record.last_due_unix_ms, Now());
  entry.info.interval_s = schedule->IntervalSeconds(Now());
  wake_.SignalAll();
  return entry.info;
}

absl::Status AuditScheduler::Delete(const std::string& name) {
  if (absl::Status deleted = store_->DeleteSchedule(name); !deleted.ok()) return deleted;
  absl::MutexLock lock(&mu_);
  entries_.erase(name);
  last_summary_.erase(name);
  return absl::OkStatus();
}

std::vector<AuditScheduler::Info> AuditScheduler::List() {
  absl::MutexLock lock(&mu_);
  std::vector<Info> out;
  for (auto& [name, entry] : entries_) {
    entry.info.interval_s = entry.schedule.IntervalSeconds(Now());
    out.push_back(entry.info);
  }
  return out;
}

void AuditScheduler::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.Unlock();
    Pass();
    mu_.Lock();
    if (stopping_) break;
    wake_.WaitWithTimeout(&mu_, absl::FromChrono(options_.poll));
  }
}

void AuditScheduler::Pass() {
  const bool leads = !options_.leads || options_.leads();
  if (options_.leads &&
      (leads != led_ || std::chrono::steady_clock::now() - reloaded_ >= options_.reload)) {
    // Another replica may have put, changed or deleted schedules, and started their audits.
    if (Reload().ok()) reloaded_ = std::chrono::steady_clock::now();
  }
  led_ = leads;
  const int64_t now = Now();
  std::vector<std::string> due, unsummarized;
  std::vector<std::pair<std::string, std::string>> running;  // plan, run
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, entry] : entries_) {
      if (!entry.summarized) {
        entry.summarized = true;
        unsummarized.push_back(name);
      }
      if (!entry.info.current_run.empty()) running.emplace_back(name, entry.info.current_run);
      if (entry.info.next_due_unix_ms >= 0 && entry.info.next_due_unix_ms <= now) {
        due.push_back(name);
      }
    }
  }
  for (const auto& [name, run_id] : running) {
    absl::StatusOr<RunProgress> progress = runs_->Progress(run_id);
    if (!progress.ok() || progress->state != RunState::kRunning) Ended(name, run_id);
  }
  for (const std::string& name : unsummarized) SummarizeNewest(name);
  if (!leads) return;  // the replica that leads starts them
  for (const std::string& name : due) StartDue(name, now);
}

void AuditScheduler::SummarizeNewest(const std::string& name) {
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns();
  if (!runs.ok()) return;
  const RunRecord* newest = nullptr;
  for (const RunRecord& r : *runs) {
    if (r.plan.name() == name && r.state == RunState::kFinished &&
        (newest == nullptr || r.created_unix_ms > newest->created_unix_ms)) {
      newest = &r;
    }
  }
  if (newest == nullptr) return;
  absl::StatusOr<AuditSummary> summary = Summarize(newest->run_id, *runs);
  if (!summary.ok()) return;
  absl::MutexLock lock(&mu_);
  if (!last_summary_.count(name)) last_summary_[name] = *summary;
}

void AuditScheduler::StartDue(const std::string& name, int64_t now) {
  v1::Plan plan;
  int64_t due = 0;
  bool busy = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    plan = e.record.plan;
    due = e.info.next_due_unix_ms;
    busy = !e.info.current_run.empty();
  }
  std::string run_id, error;
  if (!busy) {
    // One request id per due time: a controller that crashes after starting it and comes
    // back finds the same run instead of starting a second.
    absl::StatusOr<std::string> started =
        runs_->StartRun(plan, absl::StrCat("schedule:", name, ":", due));
    if (started.ok()) {
      run_id = *started;
    } else {
      error = std::string(started.status().message());
      Log(absl::StrCat("scheduled audit '", name, "' did not start: ", error));
    }
  }
  ScheduleRecord record;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    if (busy) {
      ++e.info.skipped;
      Log(absl::StrCat("scheduled audit '", name, "' skipped: ", e.info.current_run,
                       " is still running"));
    } else if (run_id.empty()) {
      ++e.info.failed;
      e.info.last_error = error;
    } else {
      ++e.info.started;
      e.info.current_run = run_id;
      e.info.last_error.clear();
    }
    e.record.last_due_unix_ms = due;
    e.info.last_due_unix_ms = due;
    e.info.next_due_unix_ms = e.schedule.NextDue(due, now);
    record = e.record;
  }
  if (absl::Status stored = store_->PutSchedule(record); !stored.ok()) {
    Log(absl::StrCat("schedule '", name, "': cannot store its last due time: ", stored.message()));
  }
}

void AuditScheduler::Ended(const std::string& name, const std::string& run_id) {
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns();
  std::optional<AuditSchedule> schedule;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return;
    if (it->second.info.current_run == run_id) it->second.info.current_run.clear();
    schedule = it->second.schedule;
  }
  if (!runs.ok()) return;
  absl::StatusOr<AuditSummary> summary = Summarize(run_id, *runs);
  if (summary.ok()) {
    absl::MutexLock lock(&mu_);
    last_summary_[name] = *summary;
  } else if (!absl::IsFailedPrecondition(summary.status())) {
    Log(absl::StrCat("audit ", run_id, " of '", name,
                     "': no summary: ", summary.status().message()));
  }
  Prune(name, *schedule);
}

absl::StatusOr<AuditScheduler::AuditSummary> AuditScheduler::Summarize(
    const std::string& run_id, const std::vector<RunRecord>& runs) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = summaries_.find(run_id); it != summaries_.end()) return it->second;
  }
  const RunRecord* run = nullptr;
  for (const RunRecord& r : runs) {
    if (r.run_id == run_id) run = &r;
  }
  if (run == nullptr) return absl::NotFoundError(absl::StrCat("no run '", run_id, "'"));
  if (run->state != RunState::kFinished) {
    return absl::FailedPreconditionError(absl::StrCat(run_id, " is ", RunStateName(run->state)));
  }
  // The previous audit: the plan's newest finished run created before this one.
  const RunRecord* previous = nullptr;
  for (const RunRecord& r : runs) {
    if (r.plan.name() != run->plan.name() || r.state != RunState::kFinished ||
        r.created_unix_ms > run->created_unix_ms || r.run_id == run_id) {
      continue;
    }
    if (r.created_unix_ms == run->created_unix_ms && RunNumberOf(r.run_id) > RunNumberOf(run_id)) {
      continue;
    }
    if (previous == nullptr || r.created_unix_ms > previous->created_unix_ms ||
        (r.created_unix_ms == previous->created_unix_ms &&
         RunNumberOf(r.run_id) > RunNumberOf(previous->run_id))) {
      previous = &r;
    }
  }
  absl::StatusOr<v1::Report> after = Findings(*runs_, *run);
  if (!after.ok()) return after.status();
  v1::Report before;
  if (previous != nullptr) {
    absl::StatusOr<v1::Report> read = Findings(*runs_, *previous);
    if (!read.ok()) return read.status();
    before = *std::move(read);
  }
  const FindingsDiff diff = DiffFindings(before, *after);
  AuditSummary summary;
  summary.run_id = run_id;
  summary.previous_run = previous ? previous->run_id : "";
  summary.findings = static_cast<uint32_t>(diff.added.size() + diff.unchanged.size());
  summary.added = previous ? static_cast<uint32_t>(diff.added.size()) : 0;
  summary.resolved = static_cast<uint32_t>(diff.resolved.size());
  absl::MutexLock lock(&mu_);
  summaries_[run_id] = summary;
  return summary;
}

void AuditScheduler::Prune(const std::string& name, const AuditSchedule& schedule) {
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns();
  if (!runs.ok()) return;
  std::vector<AuditSchedule::Audit> audits;
  for (const RunRecord& r : *runs) {
    if (r.plan.name() == name && r.state != RunState::kRunning) {
      audits.push_back({r.run_id, r.created_unix_ms});
    }
  }
  for (const std::string& run_id : schedule.Expired(audits, Now())) {
    if (absl::Status deleted = runs_->DeleteRun(run_id); !deleted.ok()) {
      Log(absl::StrCat("retention of '", name, "': cannot delete ", run_id, ": ",
                       deleted.message()));
      continue;
    }
    absl::MutexLock lock(&mu_);
    summaries_.erase(run_id);
    if (auto it = entries_.find(name); it != entries_.end()) ++it->second.info.pruned;
  }
}

std::string AuditScheduler::MetricsText() {
  const std::vector<Info> schedules = List();
  std::map<std::string, AuditSummary> last;
  {
    absl::MutexLock lock(&mu_);
    last = last_summary_;
  }
  Exposition out;
  out.Family("rstmesh_audit_schedule_interval_seconds", "gauge",
             "Time between two audits of a scheduled plan (for a cron schedule, between its next "
             "two): an audit older than this is overdue.");
  for (const Info& s : schedules) {
    out.Sample("rstmesh_audit_schedule_interval_seconds", {{"plan", s.name}},
               static_cast<uint64_t>(s.interval_s));
  }
  out.Family("rstmesh_audit_schedule_next_timestamp_seconds", "gauge",
             "When a scheduled plan's next audit is due (Unix time).");
  for (const Info& s : schedules) {
    out.Sample("rstmesh_audit_schedule_next_timestamp_seconds", {{"plan", s.name}},
               s.next_due_unix_ms < 0 ? 0.0 : s.next_due_unix_ms / 1000.0);
  }
  out.Family("rstmesh_scheduled_audits_total", "counter",
             "Due audits of scheduled plans: started, skipped (the previous one still ran) or "
             "failed (could not start: see the controller's log).");
  for (const Info& s : schedules) {
    out.Sample("rstmesh_scheduled_audits_total", {{"plan", s.name}, {"outcome", "started"}},
               s.started);
    out.Sample("rstmesh_scheduled_audits_total", {{"plan", s.name}, {"outcome", "skipped"}},
               s.skipped);
    out.Sample("rstmesh_scheduled_audits_total", {{"plan", s.name}, {"outcome", "failed"}},
               s.failed);
  }
  out.Family("rstmesh_audits_pruned_total", "counter",
             "Audits of a scheduled plan deleted by its retention (keep_runs, keep_days).");
  for (const Info& s : schedules) {
    out.Sample("rstmesh_audits_pruned_total", {{"plan", s.name}}, s.pruned);
  }
  out.Family("rstmesh_audit_findings", "gauge",
             "Findings (cause and place) of the plan's last finished scheduled audit.");
  for (const Info& s : schedules) {
    auto it = last.find(s.name);
    out.Sample("rstmesh_audit_findings", {{"plan", s.name}},
               uint64_t{it == last.end() ? 0u : it->second.findings});
  }
  out.Family("rstmesh_audit_new_findings", "gauge",
             "Findings of the plan's last finished scheduled audit that the audit before it did "
             "not have: what broke since.");
  for (const Info& s : schedules) {
    auto it = last.find(s.name);
    out.Sample("rstmesh_audit_new_findings", {{"plan", s.name}},
               uint64_t{it == last.end() ? 0u : it->second.added});
  }
  out.Family("rstmesh_audit_resolved_findings", "gauge",
             "Findings of the audit before the plan's last one that the last one no longer has.");
  for (const Info& s : schedules) {
    auto it = last.find(s.name);
    out.Sample("rstmesh_audit_resolved_findings", {{"plan", s.name}},
               uint64_t{it == last.end() ? 0u : it->second.resolved});
  }
  return out.Take();
}

}  // namespace rstmesh
