// Cron expressions for continuous audits: the five fields of crontab(5) - minute, hour,
// day of month, month, day of week - in UTC. Each field is `*`, a number, a range `a-b`, a
// step `*/n` or `a-b/n`, or a comma-separated list of these; months and days of the week
// also by name (jan, mon). As in cron, when both the day of month and the day of week are
// restricted, a day matching either runs.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace rstmesh {

class CronExpression {
 public:
  // kInvalidArgument naming the field and why ("hour: 24 is out of range 0-23").
  static absl::StatusOr<CronExpression> Parse(const std::string& text);

  // The first matching minute strictly after `after_unix_s` (seconds since the epoch), or
  // -1 if none within the next 5 years (e.g. "0 0 30 2 *").
  int64_t Next(int64_t after_unix_s) const;

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true;      // day of month is `*`
  bool any_weekday_ = true;  // day of week is `*`
};

}  // namespace rstmesh
