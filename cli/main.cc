// rstmeshctl: flags only; the commands are in the cli library.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/command_line.h"
#include "cli/ctl.h"

int main(int argc, char** argv) {
  CLI::App app{"rstmeshctl: run and read rstmesh audits of how TCP connections end"};
  app.require_subcommand(1);
  rstmesh::StandardCommandLine(app, "rstmeshctl");
  rstmesh::CtlOptions o;
  if (const char* env = std::getenv("RSTMESH_CONTROLLER"); env != nullptr && *env) {
    o.controller = env;
  }
  int timeout_s = 10;
  app.add_option("--controller", o.controller, "Controller address (RSTMESH_CONTROLLER)")
      ->capture_default_str();
  o.tls.insecure = false;
  rstmesh::AddTlsFlags(app, o.tls, rstmesh::TlsRole::kClient);
  app.add_flag("--check-config", o.check_config,
               "Check the flags, certificate files and (for run) the plan, then exit without "
               "contacting the controller");
  app.add_option("--timeout", timeout_s, "Seconds each call may take")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  int progress_every_s = 15;
  app.add_option("--progress-every", progress_every_s,
                 "When stderr is not a terminal (logs), print a followed run's progress as a "
                 "line this often, in seconds (on a terminal: a bar)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  auto output = [&](CLI::App* cmd, std::vector<std::string> formats) {
    cmd->add_option("-o,--output", o.output, "Output format")
        ->capture_default_str()
        ->check(CLI::IsMember(formats));
  };
  auto* agents = app.add_subcommand("agents", "List the agents connected to the controller");
  output(agents, {"table", "json"});
  auto* scenarios = app.add_subcommand("scenarios", "List the closure scenarios");
  output(scenarios, {"table", "json"});
  std::string plan, run_id;
  bool wait = false;
  auto* run = app.add_subcommand("run", "Start a run from a plan (YAML or JSON)");
  run->add_option("-f,--file", plan, "The plan file")->required();
  run->add_flag("--wait", wait, "Follow the run and print its report (exit code of the audit)");
  output(run, {"table", "wide", "json", "csv", "findings-csv", "html"});
  auto* watch = app.add_subcommand("watch", "Follow a run's progress until it ends");
  watch->add_option("RUN", run_id, "Run id")->required();
  auto* report = app.add_subcommand("report", "Print a run's report");
  report->add_option("RUN", run_id, "Run id")->required();
  output(report, {"table", "wide", "json", "csv", "findings-csv", "html"});
  std::string run_b;
  auto* diff = app.add_subcommand(
      "diff", "Findings of RUN_B against RUN_A: new, resolved, unchanged (exit 1 when new)");
  diff->add_option("RUN_A", run_id, "The earlier run")->required();
  diff->add_option("RUN_B", run_b, "The later run")->required();
  output(diff, {"table", "json"});
  uint64_t task_id = 0;
  auto* evidence = app.add_subcommand(
      "evidence", "Both ends' packets of one task as a pcap file (> task.pcap; tcpdump -r)");
  evidence->add_option("RUN", run_id, "Run id")->required();
  evidence->add_option("TASK", task_id, "Task id (as findings and reports list them)")->required();
  auto* export_cmd =
      app.add_subcommand("export", "Every observation of a run as JSON Lines (audit pipelines)");
  export_cmd->add_option("RUN", run_id, "Run id")->required();
  auto* runs = app.add_subcommand("runs", "List runs");
  output(runs, {"table", "json"});
  auto* cancel = app.add_subcommand("cancel", "Cancel a run");
  cancel->add_option("RUN", run_id, "Run id")->required();
  rstmesh::DemoOptions demo;
  auto* demo_cmd = app.add_subcommand(
      "demo", "A whole fleet on loopback: controller and agents in this process, one audit");
  demo_cmd->add_option("--agents", demo.agents, "Agents on 127.0.0.1..N")->capture_default_str();
  demo_cmd->add_option("--repetitions", demo.repetitions, "Per scenario and pair")
      ->capture_default_str();
  demo_cmd->add_option("--data-dir", demo.data_dir, "Keep the store here (default: temporary)");
  demo_cmd->add_option("--plan", demo.plan_path,
                       "Run this plan (YAML or JSON) instead of every scenario; --repetitions "
                       "is then the plan's");
  demo_cmd->add_option("-o,--output", demo.output, "Report format")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "wide", "json", "csv", "findings-csv", "html"}));

  auto* schedule = app.add_subcommand(
      "schedule", "Register (or replace) a plan's schedule: the controller audits it by itself");
  schedule->add_option("-f,--file", plan, "The plan file, with schedule: (every or cron)")
      ->required();
  output(schedule, {"table", "json"});
  auto* schedules = app.add_subcommand("schedules", "List the scheduled plans");
  output(schedules, {"table", "json"});
  std::string plan_name;
  auto* unschedule =
      app.add_subcommand("unschedule", "Stop a plan's continuous audits (its audits stay)");
  unschedule->add_option("PLAN", plan_name, "The plan's name")->required();
  auto* audits = app.add_subcommand(
      "audits",
      "The audits of a plan, newest first, with findings new and resolved since each "
      "previous one");
  audits->add_option("PLAN", plan_name, "The plan's name")->required();
  output(audits, {"table", "json"});
  std::string shell;
  auto* completion = app.add_subcommand(
      "completion", "Print a shell completion script: source <(rstmeshctl completion bash)");
  completion->add_option("SHELL", shell, "The shell")->required()->check(CLI::IsMember({"bash"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << rstmesh::ParseErrorMessage(app, e, std::vector<std::string>(argv + 1, argv + argc),
                                            "rstmeshctl");
    return rstmesh::kCtlUsage;
  }
  if (*completion) {
    std::cout << rstmesh::BashCompletion(app, "rstmeshctl");
    return rstmesh::kCtlOk;
  }
  o.timeout = std::chrono::seconds(timeout_s);
  o.progress_every = std::chrono::seconds(progress_every_s);
  if (!*demo_cmd) {  // the demo runs its own plaintext fleet in this process
    rstmesh::TlsFromEnvironment(o.tls);
    if (absl::Status tls = rstmesh::ChannelCredentials(o.tls).status(); !tls.ok()) {
      std::cerr << "rstmeshctl: " << tls.message() << "\n";
      return rstmesh::kCtlUsage;
    }
    if (o.check_config && !*run && !*schedule) {
      std::cout << "rstmeshctl: configuration ok: controller=" << o.controller
                << " tls=" << (o.tls.insecure ? "off" : "mutual") << "\n";
      return rstmesh::kCtlOk;
    }
  }
  o.progress = rstmesh::ProgressFor(isatty(2));
  auto& out = std::cout;
  auto& err = std::cerr;
  if (*agents) return rstmesh::CmdAgents(o, out, err);
  if (*scenarios) return rstmesh::CmdScenarios(o, out, err);
  if (*run) return rstmesh::CmdRun(o, plan, wait, out, err);
  if (*watch) return rstmesh::CmdWatch(o, run_id, out, err);
  if (*report) return rstmesh::CmdReport(o, run_id, out, err);
  if (*diff) return rstmesh::CmdDiff(o, run_id, run_b, out, err);
  if (*evidence) return rstmesh::CmdEvidence(o, run_id, task_id, isatty(1), out, err);
  if (*export_cmd) return rstmesh::CmdExport(o, run_id, out, err);
  if (*runs) return rstmesh::CmdRuns(o, out, err);
  if (*cancel) return rstmesh::CmdCancel(o, run_id, out, err);
  if (*schedule) return rstmesh::CmdSchedule(o, plan, out, err);
  if (*schedules) return rstmesh::CmdSchedules(o, out, err);
  if (*unschedule) return rstmesh::CmdUnschedule(o, plan_name, out, err);
  if (*audits) return rstmesh::CmdAudits(o, plan_name, out, err);
  return rstmesh::CmdDemo(demo, out, err);
}
