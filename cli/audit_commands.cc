// rstmeshctl's continuous-audit commands: schedule, schedules, unschedule, audits.
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/control_client.h"
#include "cli/ctl.h"
#include "core/wall_time.h"

namespace rstmesh {
namespace {

std::string Retention(const v1::PlanSchedule& s) {
  if (s.keep_runs() == 0 && s.keep_days() == 0) return "last 30";
  std::string out;
  if (s.keep_runs() > 0) absl::StrAppend(&out, "last ", s.keep_runs());
  if (s.keep_days() > 0) absl::StrAppend(&out, out.empty() ? "" : " + ", s.keep_days(), " days");
  return out;
}

}  // namespace

int CmdSchedule(const CtlOptions& o, const std::string& plan_path, std::ostream& out,
                std::ostream& err) {
  std::optional<v1::Plan> plan = ReadPlanFile(plan_path, "schedule", err);
  if (!plan) return kCtlUsage;
  if (!plan->has_schedule()) {
    err << "rstmeshctl schedule: " << plan_path
        << " has no schedule: add one (schedule: {every: 15m} or {cron: \"17 3 * * *\"}), or "
           "run it once with 'rstmeshctl run -f'\n";
    return kCtlUsage;
  }
  if (o.check_config) {
    out << "rstmeshctl: configuration ok: controller=" << o.controller << " plan=" << plan_path
        << " (schedule)\n";
    return kCtlOk;
  }
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::PutScheduleRequest request;
  *request.mutable_plan() = *plan;
  v1::ScheduleInfo info;
  grpc::Status status = stub->PutSchedule(&context, request, &info);
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      err << "rstmeshctl schedule: invalid plan " << plan_path << ":\n  " << status.error_message()
          << "\n";
      return kCtlUsage;
    }
    return RpcFailed(status, o, err);
  }
  if (o.output == "json") {
    out << ToJson(info, true) << "\n";
    return kCtlOk;
  }
  out << "scheduled '" << info.name() << "': " << info.describe() << ", keeps "
      << Retention(info.plan().schedule()) << " audits; next audit "
      << (info.next_due_time().empty() ? "never" : info.next_due_time()) << "\n";
  err << "follow it with 'rstmeshctl audits " << info.name() << "'\n";
  return kCtlOk;
}

int CmdSchedules(const CtlOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::ListSchedulesResponse response;
  grpc::Status status = stub->ListSchedules(&context, {}, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  if (o.output == "json") {
    out << ToJson(response, true) << "\n";
    return kCtlOk;
  }
  if (response.schedules().empty()) {
    out << "no schedules: add one with 'rstmeshctl schedule -f PLAN' (a plan with schedule:)\n";
    return kCtlOk;
  }
  out << absl::StrFormat("%-20s %-28s %-21s %-21s %-10s %-16s %s\n", "PLAN", "WHEN", "NEXT", "LAST",
                         "RUNNING", "STARTED/SKIP/ERR", "KEEPS");
  for (const v1::ScheduleInfo& s : response.schedules()) {
    out << absl::StrFormat("%-20s %-28s %-21s %-21s %-10s %-16s %s\n", s.name(), s.describe(),
                           s.next_due_time().empty() ? "never" : s.next_due_time(),
                           s.last_due_time().empty() ? "-" : s.last_due_time(),
                           s.current_run().empty() ? "-" : s.current_run(),
                           absl::StrCat(s.started(), "/", s.skipped(), "/", s.failed()),
                           Retention(s.plan().schedule()));
    if (!s.last_error().empty()) out << "    last audit did not start: " << s.last_error() << "\n";
  }
  return kCtlOk;
}

int CmdUnschedule(const CtlOptions& o, const std::string& name, std::ostream& out,
                  std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::DeleteScheduleRequest request;
  request.set_name(name);
  v1::DeleteScheduleResponse response;
  grpc::Status status = stub->DeleteSchedule(&context, request, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  out << "unscheduled '" << name << "' (its audits stay: 'rstmeshctl audits " << name << "')\n";
  return kCtlOk;
}

int CmdAudits(const CtlOptions& o, const std::string& plan_name, std::ostream& out,
              std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::ListAuditsRequest request;
  request.set_plan_name(plan_name);
  v1::ListAuditsResponse response;
  grpc::Status status = stub->ListAudits(&context, request, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  if (o.output == "json") {
    out << ToJson(response, true) << "\n";
    return kCtlOk;
  }
  out << absl::StrFormat("%-10s %-21s %-10s %-11s %6s %6s %8s %5s %8s\n", "RUN", "STARTED", "STATE",
                         "TASKS", "DEV", "INC", "FINDINGS", "NEW", "RESOLVED");
  for (const v1::AuditEntry& a : response.audits()) {
    const v1::RunStatus& s = a.status();
    auto count = [&](uint32_t n) { return a.summarized() ? absl::StrCat(n) : std::string("-"); };
    out << absl::StrFormat(
        "%-10s %-21s %-10s %-11s %6d %6d %8s %5s %8s\n", s.run_id(), Rfc3339(s.created_unix_ms()),
        s.state(), absl::StrCat(s.done(), "/", s.total()), s.deviation(), s.inconclusive(),
        count(a.findings()),
        a.previous_run().empty() && a.summarized() ? std::string("-") : count(a.new_findings()),
        a.previous_run().empty() && a.summarized() ? std::string("-")
                                                   : count(a.resolved_findings()));
  }
  out << response.audits_size() << " audits of '" << plan_name
      << "'; NEW and RESOLVED compare each with the one below it ('rstmeshctl diff' for which)\n";
  return kCtlOk;
}

}  // namespace rstmesh
