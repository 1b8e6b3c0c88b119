#include "controller/audit_schedule.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace rstmesh {

absl::StatusOr<AuditSchedule> AuditSchedule::Of(const v1::PlanSchedule& s) {
  std::vector<std::string> problems;
  AuditSchedule out;
  if (s.every().empty() == s.cron().empty()) {
    problems.push_back(
        "schedule: give one of every (an interval: \"15m\") and cron (\"17 3 * * *\", UTC)");
  } else if (!s.every().empty()) {
    absl::Duration every;
    if (!absl::ParseDuration(s.every(), &every)) {
      problems.push_back(absl::StrCat("schedule.every: '", s.every(),
                                      "' is not a duration (\"90s\", \"15m\", \"1h30m\")"));
    } else if (every < absl::Seconds(1) || every > absl::Hours(24 * 31)) {
      problems.push_back(
          absl::StrCat("schedule.every: ", s.every(), " is out of range: 1s to 744h (31 days)"));
    } else {
      out.every_ms_ = absl::ToInt64Milliseconds(every);
    }
  } else {
    absl::StatusOr<CronExpression> cron = CronExpression::Parse(s.cron());
    if (!cron.ok()) {
      problems.push_back(absl::StrCat("schedule.cron: ", cron.status().message()));
    } else if (cron->Next(absl::ToUnixSeconds(absl::Now())) < 0) {
      problems.push_back(absl::StrCat("schedule.cron: '", s.cron(), "' never matches"));
    } else {
      out.cron_ = *cron;
      out.cron_text_ = s.cron();
    }
  }
  if (s.keep_runs() > 100'000) {
    problems.push_back(
        absl::StrCat("schedule.keep_runs: ", s.keep_runs(), " is out of range: 0 to 100000"));
  }
  if (s.keep_days() > 3650) {
    problems.push_back(
        absl::StrCat("schedule.keep_days: ", s.keep_days(), " is out of range: 0 to 3650"));
  }
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  out.keep_runs_ = s.keep_runs();
  out.keep_days_ = s.keep_days();
  if (out.keep_runs_ == 0 && out.keep_days_ == 0) out.keep_runs_ = kDefaultKeepRuns;
  return out;
}

int64_t AuditSchedule::NextDue(int64_t last_due_unix_ms, int64_t now_unix_ms) const {
  if (every_ms_ > 0) {
    if (last_due_unix_ms == 0) return now_unix_ms;
    const int64_t next = last_due_unix_ms + every_ms_;
    return next >= now_unix_ms - every_ms_ ? next : now_unix_ms;  // one catch-up, not many
  }
  const int64_t from = std::max(last_due_unix_ms, now_unix_ms) / 1000;
  const int64_t next = cron_->Next(last_due_unix_ms == 0 ? from : last_due_unix_ms / 1000);
  if (next < 0) return -1;
  // Missed while the controller was down: once now, then on the expression again.
  return next * 1000 < now_unix_ms ? now_unix_ms : next * 1000;
}

int64_t AuditSchedule::IntervalSeconds(int64_t now_unix_ms) const {
  if (every_ms_ > 0) return (every_ms_ + 999) / 1000;
  const int64_t first = cron_->Next(now_unix_ms / 1000);
  const int64_t second = first < 0 ? -1 : cron_->Next(first);
  return second < 0 ? 0 : second - first;
}

std::string AuditSchedule::Describe() const {
  if (every_ms_ > 0) {
    return absl::StrCat("every ", absl::FormatDuration(absl::Milliseconds(every_ms_)));
  }
  return absl::StrCat("cron '", cron_text_, "' (UTC)");
}

std::vector<std::string> AuditSchedule::Expired(std::vector<Audit> audits,
                                                int64_t now_unix_ms) const {
  std::sort(audits.begin(), audits.end(), [](const Audit& a, const Audit& b) {
    return a.created_unix_ms > b.created_unix_ms;  // newest first
  });
  std::vector<std::string> expired;
  const int64_t within_ms = int64_t{keep_days_} * 24 * 3600 * 1000;
  for (size_t i = 0; i < audits.size(); ++i) {
    const bool newest = i < keep_runs_;
    const bool young = keep_days_ > 0 && now_unix_ms - audits[i].created_unix_ms < within_ms;
    if (!newest && !young) expired.push_back(audits[i].run_id);
  }
  return expired;
}

}  // namespace rstmesh
