// A run's report from the store: every task judged from its two observations as stored
// (streamed in task order, one task's at a time), with its state, and the aggregates by
// agent pair and by zone pair. The controller's memory does not hold a run to report it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/run_tasks.h"
#include "controller/store.h"
#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

struct RunProgress {
  std::string run_id;
  RunState state = RunState::kRunning;
  uint64_t total = 0;
  uint64_t done = 0;  // tasks with a final outcome
  uint64_t pass = 0;
  uint64_t deviation = 0;
  uint64_t inconclusive = 0;
  int64_t finished_unix_ms = 0;  // 0 while running
};

// How much of a run a report carries: it is built in one pass over the store, holding the
// cells (bounded by the zones, and by the agent pairs of runs up to kMaxAgentCellTasks), not
// the tasks.
struct ReportOptions {
  bool include_tasks = false;  // every task's result (runs up to kMaxReportTasks)
  size_t max_deviations = 1000;
  // Runs with more tasks are not rolled up per agent pair (a full mesh of 1,000 agents has
  // as many cells as tasks); zone cells, findings and deviations cover every task.
  static constexpr uint64_t kMaxAgentCellTasks = 200'000;
  static constexpr uint64_t kMaxReportTasks = 200'000;
};

struct RunReport {
  RunProgress progress;
  v1::Plan plan;
  std::vector<v1::TaskResult> deviations;      // the first max_deviations, by task id
  std::vector<v1::TaskResult> tasks;           // with include_tasks: one per judged task
  bool agent_cells_omitted = false;            // the run is over kMaxAgentCellTasks
  std::vector<v1::Cell> cells;                 // per (source, target, scenario)
  std::vector<v1::Cell> zone_cells;            // per (zone, zone, scenario)
  std::map<std::string, std::string> zone_of;  // agent id -> zone, as planned
  std::vector<v1::IdleTimeout> idle_timeouts;  // idle discovery: per pair, by (source, target)
  std::vector<v1::Finding> findings;           // per cause and place (findings.h)
  std::vector<v1::InconclusiveReason> inconclusive;
  std::string zone_label;
};

// What a report of a run needs besides the store.
struct ReportSource {
  RunRecord record;  // state and finish time as they are now
  RunTasks tasks;
  std::vector<uint8_t> states;  // TaskState per position (kPending: none set)
  std::vector<bool> open;       // per position: still under way (not judged); empty: none
};

// The report source of a run the controller no longer holds: from the store alone.
absl::StatusOr<ReportSource> StoredReportSource(Store& store, const RunRecord& record);

// Calls `visit` for every task that is not open, in task order, with its initiator's
// observation (null if none) and its verdict.
using ResultVisitor = std::function<void(const TaskRecord& task, const v1::Observation* initiator,
                                         v1::TaskResult&& result)>;
absl::Status ForEachResult(Store& store, const ReportSource& source, const ResultVisitor& visit);

// The report of a run of any size, in one pass over its stored observations.
// kFailedPrecondition for include_tasks on a run over kMaxReportTasks.
absl::StatusOr<RunReport> BuildReport(Store& store, const ReportSource& source,
                                      const std::string& zone_label,
                                      const ReportOptions& options = {});

// Judged tasks counted by (scenario, expected and observed class of the initiator, verdict,
// source zone, target zone): what /metrics exports, bounded by the catalogue and the zones.
using ResultKey =
    std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;
using ResultCounts = std::map<ResultKey, uint64_t>;
// Counts `n` tasks like `result` between these zones.
void CountResultInZones(const v1::TaskResult& result, const std::string& source_zone,
                        const std::string& target_zone, uint64_t n, ResultCounts& counts);

// Agent id -> its value of `label`, as the run's agents had it when it started.
std::map<std::string, std::string> ZonesOf(const RunRecord& record, const std::string& label);

}  // namespace rstmesh
