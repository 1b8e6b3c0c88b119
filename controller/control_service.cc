#include "controller/control_service.h"

#include "absl/strings/str_join.h"
#include "core/pcap_file.h"

#include <grpcpp/alarm.h>

#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/monotonic_clock.h"
#include "core/scenario.h"
#include "core/wall_time.h"

namespace rstmesh {
namespace {

constexpr int kMaxDeviationsInReport = 1000;

const grpc::Status kBusy(grpc::StatusCode::RESOURCE_EXHAUSTED,
                         "controller: too many calls under way; retry shortly");

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

grpc::Status RequireRunId(const std::string& run_id) {
  if (run_id.empty()) return {grpc::StatusCode::INVALID_ARGUMENT, "run_id: required"};
  return grpc::Status::OK;
}

// Streams a run's status every interval until it has ended, then finishes.
class WatchReactor : public grpc::ServerWriteReactor<v1::RunStatus> {
 public:
  WatchReactor(ControlService* service, std::string run_id, std::chrono::milliseconds interval)
      : service_(service), run_id_(std::move(run_id)), interval_(interval) {
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok || ended_) {
      Finish(ok ? grpc::Status::OK : grpc::Status::CANCELLED);
      return;
    }
    alarm_.Set(std::chrono::system_clock::now() + interval_, [this](bool fired) {
      if (fired) {
        Next();
      } else {
        Finish(grpc::Status::CANCELLED);
      }
    });
  }

  void OnCancel() override { alarm_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  // The status is read on the call worker (it may read the store), then written.
  void Next() {
    const bool posted = service_->worker().Post([this] {
      absl::StatusOr<v1::RunStatus> status = service_->Status(run_id_);
      if (!status.ok()) {
        Finish(ToGrpc(status.status()));
        return;
      }
      status_ = *status;
      ended_ = status_.state() != "running";
      StartWrite(&status_);
    });
    if (!posted) Finish(kBusy);
  }

  ControlService* const service_;
  const std::string run_id_;
  const std::chrono::milliseconds interval_;
  grpc::Alarm alarm_;
  v1::RunStatus status_;
  bool ended_ = false;
};

// Streams a run's stored observations a page at a time: each page is read on the call
// worker while no write is under way, then written one observation after another.
class ExportReactor : public grpc::ServerWriteReactor<v1::Observation> {
 public:
  ExportReactor(Store* store, CallWorker* worker, std::string run_id)
      : store_(store), worker_(worker), run_id_(std::move(run_id)) {
    Fetch();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    if (++next_ < page_.size()) {
      StartWrite(&page_[next_]);
    } else if (last_page_) {
      Finish(grpc::Status::OK);
    } else {
      Fetch();
    }
  }
  void OnDone() override { delete this; }

 private:
  static constexpr size_t kPage = 1024;
  void Fetch() {
    const bool posted = worker_->Post([this] {
      if (first_) {
        first_ = false;
        absl::StatusOr<std::optional<RunRecord>> run = store_->GetRun(run_id_);
        if (!run.ok()) return Finish(ToGrpc(run.status()));
        if (!run->has_value()) {
          return Finish({grpc::StatusCode::NOT_FOUND, absl::StrCat("no run '", run_id_, "'")});
        }
      }
      absl::StatusOr<std::vector<v1::Observation>> page =
          store_->GetObservationPage(run_id_, after_, kPage);
      if (!page.ok()) return Finish(ToGrpc(page.status()));
      page_ = std::move(*page);
      next_ = 0;
      last_page_ = page_.size() < kPage;
      if (page_.empty()) return Finish(grpc::Status::OK);
      after_.After(page_.back());
      StartWrite(&page_[0]);
    });
    if (!posted) Finish(kBusy);
  }

  Store* const store_;
  CallWorker* const worker_;
  const std::string run_id_;
  ObservationCursor after_;
  std::vector<v1::Observation> page_;
  size_t next_ = 0;
  bool last_page_ = false;
  bool first_ = true;
};

// A stream refused before it starts.
template <typename T>
class Refused : public grpc::ServerWriteReactor<T> {
 public:
  explicit Refused(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(status.code()), std::string(status.message())};
}

ControlService::ControlService(RunManager* runs, AgentRegistry* registry, Store* store,
                               PeerPolicy policy, RunOwnership* ownership)
    : runs_(runs), registry_(registry), store_(store), ownership_(ownership), policy_(policy) {}

grpc::ServerUnaryReactor* ControlService::Offload(grpc::CallbackServerContext* context,
                                                  std::function<grpc::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!worker_.Post([reactor, work = std::move(work)] { reactor->Finish(work()); })) {
    reactor->Finish(kBusy);
  }
  return reactor;
}

absl::StatusOr<RunRecord> ControlService::Run(const std::string& run_id) {
  absl::StatusOr<std::optional<RunRecord>> record = store_->GetRun(run_id);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return absl::NotFoundError(absl::StrCat("no run '", run_id, "'"));
  return std::move(**record);
}

absl::StatusOr<v1::RunStatus> ControlService::Status(const std::string& run_id) {
  absl::StatusOr<RunRecord> record = Run(run_id);
  if (!record.ok()) return record.status();
  absl::StatusOr<RunProgress> progress = runs_->Progress(run_id);
  if (!progress.ok()) return progress.status();
  return StatusOf(*record, *progress);
}

v1::RunStatus ControlService::StatusOf(const RunRecord& record, const RunProgress& progress) {
  v1::RunStatus out;
  out.set_run_id(record.run_id);
  out.set_state(std::string(RunStateName(progress.state)));
  out.set_plan_name(record.plan.name());
  out.set_total(progress.total);
  out.set_done(progress.done);
  out.set_pass(progress.pass);
  out.set_deviation(progress.deviation);
  out.set_inconclusive(progress.inconclusive);
  out.set_created_unix_ms(record.created_unix_ms);
  out.set_finished_unix_ms(progress.finished_unix_ms);
  out.set_created_time(Rfc3339(record.created_unix_ms));
  out.set_finished_time(Rfc3339(progress.finished_unix_ms));
  if (progress.state == RunState::kRunning && ownership_ != nullptr) {
    out.set_owner(ownership_->OwnerOf(record.run_id));
  }
  if (progress.state == RunState::kRunning) {
    if (StoreWriter::Health store = runs_->store_health(); store.failing) {
      out.set_store_error(absl::StrCat(store.error, " (since ",
                                       (UnixMillisNow() - store.failing_since_unix_ms) / 1000,
                                       " s; paused, agents hold their observations)"));
    }
  }
  return out;
}

grpc::ServerUnaryReactor* ControlService::ListAgents(grpc::CallbackServerContext* context,
                                                     const v1::ListAgentsRequest*,
                                                     v1::ListAgentsResponse* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  for (v1::AgentInfo& agent : registry_->Agents()) *response->add_agents() = std::move(agent);
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlService::ListScenarios(grpc::CallbackServerContext* context,
                                                        const v1::ListScenariosRequest*,
                                                        v1::ListScenariosResponse* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  for (const ScenarioDef* def : AllScenarios()) {
    v1::ScenarioInfo* info = response->add_scenarios();
    info->set_id(def->id);
    info->set_name(std::string(def->name));
    info->set_code(std::string(def->code));
    info->set_summary(std::string(def->summary));
    info->set_initiator_expects(def->initiator.closure);
    info->set_responder_expects(def->responder.observes ? def->responder.closure
                                                        : v1::CLOSURE_UNSPECIFIED);
    info->set_needs_tcp_repair(def->needs_tcp_repair);
    *info->mutable_defaults() = def->defaults;
  }
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlService::StartRun(grpc::CallbackServerContext* context,
                                                   const v1::StartRunRequest* request,
                                                   v1::StartRunResponse* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  return Offload(context, [this, request, response] {
    absl::StatusOr<std::string> run_id = runs_->StartRun(request->plan(), request->request_id());
    if (!run_id.ok()) return ToGrpc(run_id.status());
    response->set_run_id(*run_id);
    if (auto status = Status(*run_id); status.ok()) response->set_total_tasks(status->total());
    return grpc::Status::OK;
  });
}

grpc::ServerWriteReactor<v1::RunStatus>* ControlService::WatchRun(
    grpc::CallbackServerContext* context, const v1::WatchRunRequest* request) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return new Refused<v1::RunStatus>(allowed);
  }
  auto interval = std::chrono::milliseconds(
      request->interval_ms() > 0 ? std::clamp(request->interval_ms(), 50u, 60000u) : 500);
  return new WatchReactor(this, request->run_id(), interval);
}

grpc::ServerUnaryReactor* ControlService::GetReport(grpc::CallbackServerContext* context,
                                                    const v1::GetReportRequest* request,
                                                    v1::Report* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  if (grpc::Status s = RequireRunId(request->run_id()); !s.ok()) return Done(context, s);
  return Offload(context, [this, request, response] { return Report(*request, *response); });
}

grpc::ServerUnaryReactor* ControlService::GetEvidence(grpc::CallbackServerContext* context,
                                                      const v1::GetEvidenceRequest* request,
                                                      v1::GetEvidenceResponse* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  if (grpc::Status s = RequireRunId(request->run_id()); !s.ok()) return Done(context, s);
  return Offload(context, [this, request, response] { return Evidence(*request, *response); });
}

grpc::Status ControlService::Evidence(const v1::GetEvidenceRequest& request,
                                      v1::GetEvidenceResponse& out) {
  absl::StatusOr<RunRecord> record = Run(request.run_id());
  if (!record.ok()) return ToGrpc(record.status());
  // The task's two observations: the page after the task before it.
  ObservationCursor after;
  after.task_id = request.task_id() - 1;
  after.role = v1::ROLE_RESPONDER;
  absl::StatusOr<std::vector<v1::Observation>> page =
      store_->GetObservationPage(request.run_id(), after, 2);
  if (!page.ok()) return ToGrpc(page.status());
  std::vector<std::string> pcaps;
  for (const v1::Observation& obs : *page) {
    if (obs.task_id() != request.task_id()) continue;
    const char* role = obs.role() == v1::ROLE_INITIATOR ? "initiator" : "responder";
    if (!obs.evidence().pcap().empty()) {
      pcaps.push_back(obs.evidence().pcap());
    } else {
      out.add_notes(absl::StrCat("the ", role, " kept no packets: ",
                                 !obs.evidence().note().empty() ? obs.evidence().note()
                                 : obs.matched()
                                     ? "its end went as Linux predicts (packets are kept "
                                       "for deviations)"
                                     : "its agent captured none"));
    }
  }
  if (pcaps.empty()) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("task ", request.task_id(), " of ", request.run_id(), " has no packets",
                     out.notes().empty() ? ": no observation of it is stored"
                                         : absl::StrCat(": ", absl::StrJoin(out.notes(), "; "))));
  }
  absl::StatusOr<std::string> merged = MergePcaps(pcaps);
  if (!merged.ok()) return ToGrpc(merged.status());
  out.set_pcap(*std::move(merged));
  return grpc::Status::OK;
}

grpc::Status ControlService::Report(const v1::GetReportRequest& request, v1::Report& out) {
  absl::StatusOr<RunRecord> record = Run(request.run_id());
  if (!record.ok()) return ToGrpc(record.status());
  ReportOptions options;
  options.include_tasks = request.include_tasks();
  options.max_deviations = kMaxDeviationsInReport;
  absl::StatusOr<RunReport> report = runs_->Report(request.run_id(), options);
  if (!report.ok()) return ToGrpc(report.status());
  // The counts from the same pass as the cells (one read of the run), so that the two
  // always agree.
  *out.mutable_status() = StatusOf(*record, report->progress);
  for (auto& cell : report->cells) *out.add_cells() = std::move(cell);
  for (auto& cell : report->zone_cells) *out.add_zone_cells() = std::move(cell);
  for (auto& idle : report->idle_timeouts) *out.add_idle_timeouts() = std::move(idle);
  for (auto& result : report->deviations) *out.add_deviations() = std::move(result);
  for (auto& result : report->tasks) *out.add_tasks() = std::move(result);
  out.set_agent_cells_omitted(report->agent_cells_omitted);
  for (auto& finding : report->findings) *out.add_findings() = std::move(finding);
  for (auto& reason : report->inconclusive) *out.add_inconclusive() = std::move(reason);
  out.set_zone_label(report->zone_label);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* ControlService::ListRuns(grpc::CallbackServerContext* context,
                                                   const v1::ListRunsRequest*,
                                                   v1::ListRunsResponse* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  return Offload(context, [this, response] {
    auto runs = store_->ListRuns();
    if (!runs.ok()) return ToGrpc(runs.status());
    for (const RunRecord& run : *runs) {
      absl::StatusOr<RunProgress> progress = runs_->Progress(run.run_id);
      if (progress.ok()) *response->add_runs() = StatusOf(run, *progress);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ControlService::CancelRun(grpc::CallbackServerContext* context,
                                                    const v1::CancelRunRequest* request,
                                                    v1::CancelRunResponse*) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  if (grpc::Status s = RequireRunId(request->run_id()); !s.ok()) return Done(context, s);
  return Offload(context, [this, request] { return ToGrpc(runs_->CancelRun(request->run_id())); });
}

grpc::ServerWriteReactor<v1::Observation>* ControlService::ExportObservations(
    grpc::CallbackServerContext* context, const v1::ExportObservationsRequest* request) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return new Refused<v1::Observation>(allowed);
  }
  if (grpc::Status s = RequireRunId(request->run_id()); !s.ok()) {
    return new Refused<v1::Observation>(s);
  }
  return new ExportReactor(store_, &worker_, request->run_id());
}

namespace {

v1::ScheduleInfo ScheduleInfoOf(const AuditScheduler::Info& info) {
  v1::ScheduleInfo out;
  out.set_name(info.name);
  out.set_describe(info.describe);
  out.set_interval_s(info.interval_s);
  if (info.next_due_unix_ms >= 0) out.set_next_due_time(Rfc3339(info.next_due_unix_ms));
  out.set_last_due_time(Rfc3339(info.last_due_unix_ms));
  out.set_current_run(info.current_run);
  out.set_last_error(info.last_error);
  out.set_started(info.started);
  out.set_skipped(info.skipped);
  out.set_failed(info.failed);
  out.set_pruned(info.pruned);
  *out.mutable_plan() = info.plan;
  return out;
}

}  // namespace

grpc::ServerUnaryReactor* ControlService::PutSchedule(grpc::CallbackServerContext* context,
                                                      const v1::PutScheduleRequest* request,
                                                      v1::ScheduleInfo* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  if (scheduler_ == nullptr) {
    return Done(context, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                      "this controller runs no continuous audits"));
  }
  return Offload(context, [this, request, response] {
    absl::StatusOr<AuditScheduler::Info> info = scheduler_->Put(request->plan());
    if (!info.ok()) return ToGrpc(info.status());
    *response = ScheduleInfoOf(*info);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* ControlService::ListSchedules(grpc::CallbackServerContext* context,
                                                        const v1::ListSchedulesRequest*,
                                                        v1::ListSchedulesResponse* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  if (scheduler_ == nullptr) {
    return Done(context, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                      "this controller runs no continuous audits"));
  }
  for (const AuditScheduler::Info& info : scheduler_->List()) {
    *response->add_schedules() = ScheduleInfoOf(info);
  }
  return Done(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlService::DeleteSchedule(grpc::CallbackServerContext* context,
                                                         const v1::DeleteScheduleRequest* request,
                                                         v1::DeleteScheduleResponse*) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  if (scheduler_ == nullptr) {
    return Done(context, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                      "this controller runs no continuous audits"));
  }
  return Offload(context, [this, request] { return ToGrpc(scheduler_->Delete(request->name())); });
}

grpc::ServerUnaryReactor* ControlService::ListAudits(grpc::CallbackServerContext* context,
                                                     const v1::ListAuditsRequest* request,
                                                     v1::ListAuditsResponse* response) {
  if (grpc::Status allowed = policy_.RequireOperator(*context); !allowed.ok()) {
    return Done(context, allowed);
  }
  if (scheduler_ == nullptr) {
    return Done(context, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                      "this controller runs no continuous audits"));
  }
  if (request->plan_name().empty()) {
    return Done(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "plan_name: required (the plan's name)"));
  }
  return Offload(context, [this, request, response] {
    absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns();
    if (!runs.ok()) return ToGrpc(runs.status());
    std::vector<const RunRecord*> audits;
    for (const RunRecord& run : *runs) {
      if (run.plan.name() == request->plan_name()) audits.push_back(&run);
    }
    if (audits.empty()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no audits of a plan named '", request->plan_name(), "'"));
    }
    std::sort(audits.begin(), audits.end(), [](const RunRecord* a, const RunRecord* b) {
      return a->created_unix_ms != b->created_unix_ms
                 ? a->created_unix_ms > b->created_unix_ms
                 : RunNumberOf(a->run_id) > RunNumberOf(b->run_id);
    });
    for (const RunRecord* run : audits) {
      absl::StatusOr<RunProgress> progress = runs_->Progress(run->run_id);
      if (!progress.ok()) continue;
      v1::AuditEntry& entry = *response->add_audits();
      *entry.mutable_status() = StatusOf(*run, *progress);
      if (run->state != RunState::kFinished) continue;
      absl::StatusOr<AuditScheduler::AuditSummary> summary =
          scheduler_->Summarize(run->run_id, *runs);
      if (!summary.ok()) continue;
      entry.set_summarized(true);
      entry.set_previous_run(summary->previous_run);
      entry.set_findings(summary->findings);
      entry.set_new_findings(summary->added);
      entry.set_resolved_findings(summary->resolved);
    }
    return grpc::Status::OK;
  });
}

}  // namespace rstmesh
