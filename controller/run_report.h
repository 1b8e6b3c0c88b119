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

struct RunReport {
  RunProgress progress;
  v1::Plan plan;
  std::vector<v1::TaskResult> results;         // one per task, by task id
  std::vector<v1::Cell> cells;                 // per (source, target, scenario)
  std::vector<v1::Cell> zone_cells;            // per (zone, zone, scenario)
  std::map<std::string, std::string> zone_of;  // agent id -> zone, as planned
  std::vector<v1::IdleTimeout> idle_timeouts;  // idle discovery: per pair, by (source, target)
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

// The whole report (every task's result in memory: for runs a client asks about).
absl::StatusOr<RunReport> BuildReport(Store& store, const ReportSource& source,
                                      const std::string& zone_label);

// Judged tasks counted by (scenario, expected and observed class of the initiator, verdict,
// source zone, target zone): what /metrics exports, bounded by the catalogue and the zones.
using ResultKey =
    std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;
using ResultCounts = std::map<ResultKey, uint64_t>;
void CountResult(const v1::TaskResult& result, const std::map<std::string, std::string>& zone_of,
                 ResultCounts& counts);
// The same with the zones given; counts `n` tasks alike.
void CountResultInZones(const v1::TaskResult& result, const std::string& source_zone,
                        const std::string& target_zone, uint64_t n, ResultCounts& counts);

// Agent id -> its value of `label`, as the run's agents had it when it started.
std::map<std::string, std::string> ZonesOf(const RunRecord& record, const std::string& label);

}  // namespace rstmesh
