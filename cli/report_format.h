// Renders a run's report for people (table, wide) and pipelines (json, csv).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "rstmesh/v1/control.pb.h"

namespace rstmesh {

// table: summary, findings first, then the zone roll-up and the agent-pair matrix summary.
// wide: every (source, target, scenario) cell with observed classes and p50/p99.
// json: the Report message. csv: one line per cell. findings-csv: one line per finding, then
// one per reason tasks were inconclusive. html: cli/html_report.h.
absl::StatusOr<std::string> RenderReport(const v1::Report& report, const std::string& format);

// One line: "run-3 (nightly): finished, 216/216 tasks: 216 pass, 0 deviation, 0 inconclusive;
// started 2026-12-03T04:20:00Z, ended 2026-12-03T04:21:12Z after 1 min 12 s".
std::string SummaryLine(const v1::RunStatus& status);

// "started 2026-12-03T04:20:00Z, ended 2026-12-03T04:21:12Z after 1 min 12 s" (RFC 3339,
// UTC); "" when the start is unknown.
std::string RunTimes(const v1::RunStatus& status);

// Exit code of an audit: 0 all as expected, 1 deviations, 3 run incomplete, 4 finished
// without a deviation but with tasks that could not be judged.
int AuditExitCode(const v1::RunStatus& status);

}  // namespace rstmesh
