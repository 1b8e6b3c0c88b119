// rstmeshctl's commands. Each returns the process exit code: 0 all as expected, 1
// deviations found, 2 usage or invalid plan, 3 controller unreachable or run incomplete,
// 4 finished without a deviation but some tasks could not be judged.
#pragma once

#include <chrono>
#include <iosfwd>
#include <string>

#include "security/tls.h"

namespace rstmesh {

inline constexpr int kCtlOk = 0;
inline constexpr int kCtlDeviations = 1;
inline constexpr int kCtlUsage = 2;
inline constexpr int kCtlUnavailable = 3;
inline constexpr int kCtlInconclusive = 4;

struct CtlOptions {
  std::string controller = "127.0.0.1:7400";
  std::chrono::seconds timeout{10};  // each RPC
  std::string output = "table";
  // How a followed run's progress shows on stderr: a bar redrawn in place on a terminal,
  // timestamped lines every `progress_every` elsewhere (logs of a CronJob, CI), or nothing.
  enum class Progress { kNone, kBar, kLines };
  Progress progress = Progress::kNone;
  std::chrono::seconds progress_every{15};
  TlsOptions tls = PlaintextTls();
  bool check_config = false;  // check flags, files and the plan; contact nobody
};

int CmdAgents(const CtlOptions& o, std::ostream& out, std::ostream& err);
int CmdScenarios(const CtlOptions& o, std::ostream& out, std::ostream& err);
// Reads a YAML/JSON plan file and starts it; with `wait`, follows it and prints the report.
int CmdRun(const CtlOptions& o, const std::string& plan_path, bool wait, std::ostream& out,
           std::ostream& err);
int CmdWatch(const CtlOptions& o, const std::string& run_id, std::ostream& out, std::ostream& err);
int CmdReport(const CtlOptions& o, const std::string& run_id, std::ostream& out, std::ostream& err);
// Findings of run_b against run_a: new, resolved, unchanged. Exit 1 when something is new.
int CmdDiff(const CtlOptions& o, const std::string& run_a, const std::string& run_b,
            std::ostream& out, std::ostream& err);
// Both ends' packets of one task as a pcap file on `out` (not a terminal).
int CmdEvidence(const CtlOptions& o, const std::string& run_id, uint64_t task_id,
                bool out_is_terminal, std::ostream& out, std::ostream& err);
int CmdExport(const CtlOptions& o, const std::string& run_id, std::ostream& out, std::ostream& err);
int CmdRuns(const CtlOptions& o, std::ostream& out, std::ostream& err);
int CmdCancel(const CtlOptions& o, const std::string& run_id, std::ostream& out, std::ostream& err);

// Continuous audits (cli/audit_commands.cc). schedule: registers (or replaces) the plan's
// schedule; schedules: lists them; unschedule: removes one (its audits stay); audits: the
// series of audits of a plan, newest first, with new and resolved findings against the one
// before.
int CmdSchedule(const CtlOptions& o, const std::string& plan_path, std::ostream& out,
                std::ostream& err);
int CmdSchedules(const CtlOptions& o, std::ostream& out, std::ostream& err);
int CmdUnschedule(const CtlOptions& o, const std::string& name, std::ostream& out,
                  std::ostream& err);
int CmdAudits(const CtlOptions& o, const std::string& plan_name, std::ostream& out,
              std::ostream& err);

// How progress shows when stderr is (not) a terminal.
CtlOptions::Progress ProgressFor(bool stderr_is_terminal);

struct DemoOptions {
  int agents = 4;
  int repetitions = 3;
  std::string data_dir;  // empty: a temporary directory, removed afterwards
  std::string output = "table";
  std::string plan_path;  // empty: every scenario, full mesh, `repetitions` per pair
};
// A controller and N agents on 127.0.0.1..N in this process, the default plan (every
// scenario, full mesh) or the one given, the report, then everything stops.
int CmdDemo(const DemoOptions& o, std::ostream& out, std::ostream& err);

}  // namespace rstmesh
