#include "cli/ctl.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <thread>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/agent.h"
#include "agent/process_limits.h"
#include "cli/control_client.h"
#include "cli/report_diff.h"
#include "cli/report_format.h"
#include "controller/controller.h"
#include "controller/plan_parser.h"
#include "core/closure.h"
#include "core/endpoint.h"
#include "core/monotonic_clock.h"
#include "core/wall_time.h"
#include "rstmesh/v1/control.grpc.pb.h"

namespace rstmesh {
namespace {

// "120/480 tasks, 3 deviations, 12.5 tasks/s": the rate is of the tasks done since the watch
// began (none until a second has passed: a run already far along is not "fast").
std::string ProgressText(const v1::RunStatus& s, uint64_t done_at_start, double seconds) {
  std::string rate = "-";
  if (seconds >= 1.0 && s.done() >= done_at_start) {
    rate = absl::StrFormat("%.1f", static_cast<double>(s.done() - done_at_start) / seconds);
  }
  return absl::StrCat(s.done(), "/", s.total(), " tasks, ", s.deviation(), " deviations, ", rate,
                      " tasks/s");
}

void ProgressBar(const v1::RunStatus& s, const std::string& text, std::ostream& err) {
  const int width = 30;
  int filled = s.total() ? static_cast<int>(width * s.done() / s.total()) : width;
  err << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << text
      << "   " << std::flush;
}

// Follows a run until it ends. Returns its final status, or the exit code on failure.
int Follow(const CtlOptions& o, const std::string& run_id, v1::RunStatus* last, std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;  // no deadline: a run may take long; the stream ends with it
  v1::WatchRunRequest request;
  request.set_run_id(run_id);
  request.set_interval_ms(250);
  auto reader = stub->WatchRun(&context, request);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::time_point next_line = start;
  v1::RunStatus status;
  std::optional<uint64_t> done_at_start;
  bool last_shown = false;  // as a line
  while (reader->Read(&status)) {
    if (!done_at_start) done_at_start = status.done();
    *last = status;
    const Clock::time_point now = Clock::now();
    const double seconds = std::chrono::duration<double>(now - start).count();
    if (o.progress == CtlOptions::Progress::kBar) {
      ProgressBar(status, ProgressText(status, *done_at_start, seconds), err);
    } else if (o.progress == CtlOptions::Progress::kLines && now >= next_line) {
      err << Rfc3339(UnixMillisNow()) << " " << run_id << ": " << status.state() << ", "
          << ProgressText(status, *done_at_start, seconds) << "\n"
          << std::flush;
      next_line = now + o.progress_every;
      last_shown = true;
    } else {
      last_shown = false;
    }
  }
  if (o.progress == CtlOptions::Progress::kBar && done_at_start) err << "\n";
  if (o.progress == CtlOptions::Progress::kLines && done_at_start && !last_shown) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    err << Rfc3339(UnixMillisNow()) << " " << run_id << ": " << last->state() << ", "
        << ProgressText(*last, *done_at_start, seconds) << "\n";
  }
  grpc::Status finished = reader->Finish();
  if (!finished.ok()) return RpcFailed(finished, o, err);
  return kCtlOk;
}

}  // namespace

int CmdAgents(const CtlOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::ListAgentsResponse response;
  grpc::Status status = stub->ListAgents(&context, {}, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  if (o.output == "json") {
    out << ToJson(response, true) << "\n";
    return kCtlOk;
  }
  out << absl::StrFormat("%-24s %-13s %-28s %-7s %-10s %s\n", "AGENT", "STATE", "DATA", "CLOSED",
                         "REPAIR", "LABELS");
  for (const v1::AgentInfo& a : response.agents()) {
    std::map<std::string, std::string> sorted(a.labels().begin(), a.labels().end());
    std::string labels;
    for (const auto& [k, v] : sorted)
      absl::StrAppend(&labels, labels.empty() ? "" : ",", k, "=", v);
    // A disconnected agent keeps its tasks until its lease expires (--agent-lease-ms).
    out << absl::StrFormat("%-24s %-13s %-28s %-7d %-10s %s\n", a.id(),
                           a.connected() ? "connected" : "disconnected", a.data_endpoint(),
                           a.closed_port(), a.tcp_repair() ? "yes" : "no", labels);
  }
  out << response.agents_size() << " agents\n";
  return kCtlOk;
}

int CmdScenarios(const CtlOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::ListScenariosResponse response;
  grpc::Status status = stub->ListScenarios(&context, {}, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  if (o.output == "json") {
    out << ToJson(response, true) << "\n";
    return kCtlOk;
  }
  out << absl::StrFormat("%-4s %-24s %-14s %-14s %s\n", "CODE", "NAME", "INITIATOR", "RESPONDER",
                         "WHAT HAPPENS");
  for (const v1::ScenarioInfo& s : response.scenarios()) {
    out << absl::StrFormat(
        "%-4s %-24s %-14s %-14s %s\n", s.code(), s.name(), ClosureName(s.initiator_expects()),
        s.responder_expects() ? ClosureName(s.responder_expects()) : "-", s.summary());
  }
  return kCtlOk;
}

int CmdRun(const CtlOptions& o, const std::string& plan_path, bool wait, std::ostream& out,
           std::ostream& err) {
  std::optional<v1::Plan> plan = ReadPlanFile(plan_path, "run", err);
  if (!plan) return kCtlUsage;
  if (plan->has_schedule()) {
    err << "rstmeshctl run: runs " << plan_path
        << " once; 'rstmeshctl schedule -f' registers its schedule\n";
  }
  if (o.check_config) {
    out << "rstmeshctl: configuration ok: controller=" << o.controller
        << " tls=" << (o.tls.insecure ? "off" : "mutual") << " plan=" << plan_path << " ("
        << plan->scenarios_size() << " scenarios"
        << (plan->has_idle_discovery() ? ", idle discovery" : "") << ")\n";
    return kCtlOk;
  }
  auto stub = ControlStub(o);
  v1::StartRunRequest request;
  *request.mutable_plan() = *plan;
  // One id for every attempt: a retry after a timeout or a dropped connection returns the
  // run the first attempt started instead of starting a second one.
  std::random_device random;
  request.set_request_id(
      absl::StrCat("rstmeshctl-", absl::Hex(random()), absl::Hex(random()), absl::Hex(random())));
  v1::StartRunResponse response;
  grpc::Status status;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    grpc::ClientContext context;
    SetDeadline(context, o);
    status = stub->StartRun(&context, request, &response);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      break;
    }
  }
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      err << "rstmeshctl run: invalid plan " << plan_path << ":\n  " << status.error_message()
          << "\n";
      return kCtlUsage;
    }
    return RpcFailed(status, o, err);
  }
  const std::string tasks = absl::StrCat(
      response.total_tasks(), request.plan().has_idle_discovery()
                                  ? " tasks (the idle-timeout ladder; refinement rounds add more)"
                                  : " tasks");
  if (!wait) {
    out << response.run_id() << "\n";
    err << "started " << response.run_id() << " with " << tasks
        << "; follow it with 'rstmeshctl watch " << response.run_id() << "'\n";
    return kCtlOk;
  }
  err << "started " << response.run_id() << " with " << tasks << "\n";
  v1::RunStatus last;
  if (int code = Follow(o, response.run_id(), &last, err); code != kCtlOk) return code;
  return CmdReport(o, response.run_id(), out, err);
}

int CmdWatch(const CtlOptions& o, const std::string& run_id, std::ostream& out, std::ostream& err) {
  v1::RunStatus last;
  if (int code = Follow(o, run_id, &last, err); code != kCtlOk) return code;
  out << SummaryLine(last) << "\n";
  return AuditExitCode(last);
}

namespace {

// The run's report, or the exit code of the failure (printed).
std::variant<v1::Report, int> GetReport(const CtlOptions& o, const std::string& run_id,
                                        std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::GetReportRequest request;
  request.set_run_id(run_id);
  v1::Report report;
  grpc::Status status = stub->GetReport(&context, request, &report);
  if (!status.ok()) return RpcFailed(status, o, err);
  return report;
}

}  // namespace

int CmdDiff(const CtlOptions& o, const std::string& run_a, const std::string& run_b,
            std::ostream& out, std::ostream& err) {
  auto a = GetReport(o, run_a, err);
  if (const int* code = std::get_if<int>(&a)) return *code;
  auto b = GetReport(o, run_b, err);
  if (const int* code = std::get_if<int>(&b)) return *code;
  const v1::Report& before = std::get<v1::Report>(a);
  const v1::Report& after = std::get<v1::Report>(b);
  const FindingsDiff diff = DiffFindings(before, after);
  absl::StatusOr<std::string> text = RenderDiff(before, after, diff, o.output);
  if (!text.ok()) {
    err << "rstmeshctl diff: " << text.status().message() << "\n";
    return kCtlUsage;
  }
  out << *text;
  return diff.added.empty() ? kCtlOk : kCtlDeviations;
}

int CmdReport(const CtlOptions& o, const std::string& run_id, std::ostream& out,
              std::ostream& err) {
  auto got = GetReport(o, run_id, err);
  if (const int* code = std::get_if<int>(&got)) return *code;
  const v1::Report& report = std::get<v1::Report>(got);
  absl::StatusOr<std::string> text = RenderReport(report, o.output);
  if (!text.ok()) {
    err << "rstmeshctl report: " << text.status().message() << "\n";
    return kCtlUsage;
  }
  out << *text;
  return AuditExitCode(report.status());
}

int CmdEvidence(const CtlOptions& o, const std::string& run_id, uint64_t task_id,
                bool out_is_terminal, std::ostream& out, std::ostream& err) {
  if (out_is_terminal) {
    err << "rstmeshctl evidence: the output is a pcap file: redirect it (> task.pcap) or pipe "
           "it (| tcpdump -nr -)\n";
    return kCtlUsage;
  }
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::GetEvidenceRequest request;
  request.set_run_id(run_id);
  request.set_task_id(task_id);
  v1::GetEvidenceResponse response;
  grpc::Status status = stub->GetEvidence(&context, request, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  for (const std::string& note : response.notes()) err << "rstmeshctl evidence: " << note << "\n";
  out.write(response.pcap().data(), static_cast<std::streamsize>(response.pcap().size()));
  out.flush();
  return kCtlOk;
}

int CmdExport(const CtlOptions& o, const std::string& run_id, std::ostream& out,
              std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  v1::ExportObservationsRequest request;
  request.set_run_id(run_id);
  auto reader = stub->ExportObservations(&context, request);
  v1::Observation obs;
  while (reader->Read(&obs)) out << ToJson(obs) << "\n";
  grpc::Status status = reader->Finish();
  if (!status.ok()) return RpcFailed(status, o, err);
  return kCtlOk;
}

int CmdRuns(const CtlOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::ListRunsResponse response;
  grpc::Status status = stub->ListRuns(&context, {}, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  if (o.output == "json") {
    out << ToJson(response, true) << "\n";
    return kCtlOk;
  }
  for (const v1::RunStatus& run : response.runs()) out << SummaryLine(run) << "\n";
  if (response.runs().empty()) out << "no runs yet: start one with 'rstmeshctl run -f PLAN'\n";
  return kCtlOk;
}

int CmdCancel(const CtlOptions& o, const std::string& run_id, std::ostream& out,
              std::ostream& err) {
  auto stub = ControlStub(o);
  grpc::ClientContext context;
  SetDeadline(context, o);
  v1::CancelRunRequest request;
  request.set_run_id(run_id);
  v1::CancelRunResponse response;
  grpc::Status status = stub->CancelRun(&context, request, &response);
  if (!status.ok()) return RpcFailed(status, o, err);
  out << "cancelled " << run_id << "\n";
  return kCtlOk;
}

CtlOptions::Progress ProgressFor(bool stderr_is_terminal) {
  return stderr_is_terminal ? CtlOptions::Progress::kBar : CtlOptions::Progress::kLines;
}

int CmdDemo(const DemoOptions& o, std::ostream& out, std::ostream& err) {
  if (o.agents < 2 || o.agents > 200) {
    err << "rstmeshctl demo: --agents: " << o.agents << " is out of range (2 to 200)\n";
    return kCtlUsage;
  }
  if (o.repetitions < 1 || o.repetitions > 100) {
    err << "rstmeshctl demo: --repetitions: " << o.repetitions << " is out of range (1 to 100)\n";
    return kCtlUsage;
  }
  v1::Plan plan;
  if (!o.plan_path.empty()) {
    std::optional<v1::Plan> read = ReadPlanFile(o.plan_path, "demo --plan", err);
    if (!read) return kCtlUsage;
    plan = *std::move(read);
  } else {
    plan.set_name("demo: every scenario, full mesh");
    plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
    AddEveryScenario(plan, o.repetitions);
    plan.mutable_limits()->set_concurrency_per_agent(4);
  }
  RaiseFileLimit();
  std::string dir = o.data_dir;
  bool temporary = dir.empty();
  if (temporary) {
    char tmpl[] = "/tmp/rstmesh-demo-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      err << "rstmeshctl demo: cannot create a temporary directory\n";
      return kCtlUnavailable;
    }
    dir = tmpl;
  }
  int code = kCtlUnavailable;
  {
    ControllerOptions copts;
    copts.listen = "127.0.0.1:0";
    copts.data_dir = dir;
    Controller controller(copts);
    if (absl::Status s = controller.Start(); !s.ok()) {
      err << "rstmeshctl demo: controller: " << s.message() << "\n";
      return kCtlUnavailable;
    }
    const std::string address = absl::StrCat("127.0.0.1:", controller.port());
    err << "demo: controller on " << address << ", data in " << dir << "\n";
    std::vector<std::unique_ptr<Agent>> agents;
    for (int i = 1; i <= o.agents; ++i) {
      AgentOptions a;
      a.id = absl::StrCat("agent-", i);
      a.labels = {{"zone", i % 2 == 1 ? "a" : "b"}};
      a.controller = address;
      a.responder.listen = asio::ip::make_address(absl::StrCat("127.0.0.", i));
      a.responder.data_port = 0;
      a.responder.closed_port = 0;
      agents.push_back(std::make_unique<Agent>(a));
      if (absl::Status s = agents.back()->Start(); !s.ok()) {
        err << "rstmeshctl demo: " << a.id << ": " << s.message() << "\n";
        return kCtlUnavailable;
      }
      err << "demo: " << a.id << " (zone " << a.labels["zone"] << ") on "
          << FormatEndpoint(agents.back()->responder()->data_endpoint()) << "\n";
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (controller.registry().Agents().size() < static_cast<size_t>(o.agents)) {
      if (std::chrono::steady_clock::now() > deadline) {
        err << "rstmeshctl demo: only " << controller.registry().Agents().size() << " of "
            << o.agents << " agents registered in time\n";
        return kCtlUnavailable;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    CtlOptions ctl;
    ctl.controller = address;
    ctl.output = o.output;
    ctl.progress = ProgressFor(isatty(2));
    auto stub = ControlStub(ctl);
    grpc::ClientContext context;
    SetDeadline(context, ctl);
    v1::StartRunRequest request;
    *request.mutable_plan() = plan;
    v1::StartRunResponse response;
    grpc::Status status = stub->StartRun(&context, request, &response);
    if (!status.ok()) return RpcFailed(status, ctl, err);
    err << "demo: " << response.run_id() << ": " << response.total_tasks() << " tasks (" << o.agents
        << " agents, full mesh, 9 scenarios x " << o.repetitions << ")\n";
    v1::RunStatus last;
    code = Follow(ctl, response.run_id(), &last, err);
    if (code == kCtlOk) code = CmdReport(ctl, response.run_id(), out, err);
    for (auto& agent : agents) agent->Stop();
    controller.Stop();
  }
  if (temporary) std::filesystem::remove_all(dir);
  return code;
}

}  // namespace rstmesh
