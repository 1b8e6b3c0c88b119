// When a scheduled plan's audits are due and how many of them are kept: the plan's Schedule
// (an interval or a cron expression, retention) checked and made usable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/cron.h"
#include "rstmesh/v1/plan.pb.h"

namespace rstmesh {

class AuditSchedule {
 public:
  static constexpr uint32_t kDefaultKeepRuns = 30;

  // kInvalidArgument with "schedule.every: ..." style messages (one per line).
  static absl::StatusOr<AuditSchedule> Of(const v1::PlanSchedule& schedule);

  // When the audit after one due at `last_due_unix_ms` is due, given that it is
  // `now_unix_ms` (0 for `last_due`: none yet): an interval runs from the last due time,
  // and an audit missed by more than an interval is not caught up more than once; a cron
  // expression's next minute after the later of the two. -1: never again.
  int64_t NextDue(int64_t last_due_unix_ms, int64_t now_unix_ms) const;
  // The time between two audits (for a cron expression: between the next two), in seconds,
  // for "overdue" alerts.
  int64_t IntervalSeconds(int64_t now_unix_ms) const;
  // "every 15m" or "cron '17 3 * * *' (UTC)".
  std::string Describe() const;

  struct Audit {
    std::string run_id;
    int64_t created_unix_ms = 0;
  };
  // The audits to delete among `audits` (finished ones of the plan, any order) as of
  // `now_unix_ms`: those neither among the newest keep_runs nor younger than keep_days.
  std::vector<std::string> Expired(std::vector<Audit> audits, int64_t now_unix_ms) const;
  uint32_t keep_runs() const { return keep_runs_; }
  uint32_t keep_days() const { return keep_days_; }

 private:
  int64_t every_ms_ = 0;  // 0: cron
  std::string cron_text_;
  std::optional<CronExpression> cron_;
  uint32_t keep_runs_ = 0;
  uint32_t keep_days_ = 0;
};

}  // namespace rstmesh
