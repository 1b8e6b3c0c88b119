// Continuous audits' timing: cron expressions against known calendars, intervals that do not
// pile up missed audits, retention as restic's keep-last / keep-within, and the plan
// validator's messages for bad schedules.
#include <gtest/gtest.h>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "controller/audit_schedule.h"
#include "controller/cron.h"
#include "controller/plan_validator.h"

namespace rstmesh {
namespace {

int64_t Utc(int y, int mo, int d, int h, int mi) {
  return absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone()));
}

int64_t Next(const std::string& cron, int64_t after) {
  absl::StatusOr<CronExpression> c = CronExpression::Parse(cron);
  EXPECT_TRUE(c.ok()) << cron << ": " << c.status();
  return c.ok() ? c->Next(after) : -2;
}

TEST(CronTest, NextMatchingMinuteInUtc) {
  const int64_t t = Utc(2026, 12, 3, 16, 20);  // a Thursday
  EXPECT_EQ(Next("17 3 * * *", t), Utc(2026, 12, 4, 3, 17));
  EXPECT_EQ(Next("*/15 * * * *", t), Utc(2026, 12, 3, 16, 30));
  EXPECT_EQ(Next("* * * * *", t), Utc(2026, 12, 3, 16, 21)) << "strictly after";
  EXPECT_EQ(Next("0 9 * * mon-fri", t), Utc(2026, 12, 4, 9, 0));
  EXPECT_EQ(Next("0 9 * * sat,sun", t), Utc(2026, 12, 5, 9, 0));
  EXPECT_EQ(Next("0 0 * * 7", t), Utc(2026, 12, 6, 0, 0)) << "7 is Sunday";
  EXPECT_EQ(Next("0 0 1 jan *", t), Utc(2027, 1, 1, 0, 0));
  EXPECT_EQ(Next("0 0 29 2 *", t), Utc(2028, 2, 29, 0, 0)) << "the next leap day";
  // Day of month and day of week both restricted: either matches (cron's rule).
  EXPECT_EQ(Next("0 12 15 * fri", t), Utc(2026, 12, 4, 12, 0));
  EXPECT_EQ(Next("5-10/5 1 * * *", t), Utc(2026, 12, 4, 1, 5));
  EXPECT_EQ(Next("0 0 31 2 *", t), -1) << "never";
}

TEST(CronTest, BadExpressionsNameTheField) {
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"17 3 * *", "has 4 fields; a cron expression has 5"},
           {"60 * * * *", "minute: 60 is out of range 0-59"},
           {"* 24 * * *", "hour: 24 is out of range 0-23"},
           {"* * 0 * *", "day of month: 0 is out of range 1-31"},
           {"* * * 13 *", "month: 13 is out of range 1-12"},
           {"* * * * funday", "day of week: 'funday' is not a number"},
           {"*/0 * * * *", "minute: step '0' is not a positive number"},
           {"10-5 * * * *", "minute: range '10-5' runs backwards"},
       }) {
    absl::StatusOr<CronExpression> c = CronExpression::Parse(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(std::string(c.status().message()).find(message), std::string::npos)
        << text << ": " << c.status();
  }
}

AuditSchedule Schedule(const std::string& every, const std::string& cron, uint32_t keep_runs = 0,
                       uint32_t keep_days = 0) {
  v1::PlanSchedule s;
  s.set_every(every);
  s.set_cron(cron);
  s.set_keep_runs(keep_runs);
  s.set_keep_days(keep_days);
  absl::StatusOr<AuditSchedule> out = AuditSchedule::Of(s);
  EXPECT_TRUE(out.ok()) << out.status();
  return *out;
}

TEST(AuditScheduleTest, IntervalsRunFromTheLastDueTimeAndCatchUpOnce) {
  const AuditSchedule s = Schedule("15m", "");
  const int64_t m = 60'000;
  EXPECT_EQ(s.NextDue(0, 1000 * m), 1000 * m) << "the first audit is due at once";
  EXPECT_EQ(s.NextDue(1000 * m, 1003 * m), 1015 * m) << "no drift from late starts";
  EXPECT_EQ(s.NextDue(1000 * m, 1100 * m), 1100 * m) << "missed many: one audit now";
  EXPECT_EQ(s.IntervalSeconds(0), 900);
  EXPECT_EQ(s.Describe(), "every 15m");
  const AuditSchedule nightly = Schedule("", "17 3 * * *");
  const int64_t t = Utc(2026, 12, 3, 16, 20) * 1000;
  EXPECT_EQ(nightly.NextDue(0, t), Utc(2026, 12, 4, 3, 17) * 1000);
  EXPECT_EQ(nightly.NextDue(Utc(2026, 12, 1, 3, 17) * 1000, t), t)
      << "the controller was down at 3:17 yesterday: once now";
  EXPECT_EQ(nightly.IntervalSeconds(t), 24 * 3600);
}

TEST(AuditScheduleTest, RetentionKeepsTheNewestOrTheYoung) {
  const int64_t day = 24 * 3600 * 1000;
  const int64_t now = 100 * day;
  std::vector<AuditSchedule::Audit> audits;
  for (int i = 0; i < 10; ++i) audits.push_back({"run-" + std::to_string(i), now - i * day});
  EXPECT_EQ(
      Schedule("1h", "", 3).Expired(audits, now),
      (std::vector<std::string>{"run-3", "run-4", "run-5", "run-6", "run-7", "run-8", "run-9"}));
  EXPECT_EQ(Schedule("1h", "", 0, 5).Expired(audits, now),
            (std::vector<std::string>{"run-5", "run-6", "run-7", "run-8", "run-9"}));
  EXPECT_EQ(Schedule("1h", "", 7, 2).Expired(audits, now),
            (std::vector<std::string>{"run-7", "run-8", "run-9"}))
      << "kept if either keeps it";
  EXPECT_EQ(Schedule("1h", "").keep_runs(), AuditSchedule::kDefaultKeepRuns);
}

TEST(AuditScheduleTest, PlanValidatorNamesEachScheduleProblem) {
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  plan.add_scenarios()->set_name("graceful_close");
  std::vector<v1::AgentInfo> agents(2);
  agents[0].set_id("a");
  agents[1].set_id("b");
  auto problems = [&](const std::string& every, const std::string& cron, uint32_t keep_runs = 0) {
    v1::Plan p = plan;
    p.set_name("nightly");
    p.mutable_schedule()->set_every(every);
    p.mutable_schedule()->set_cron(cron);
    p.mutable_schedule()->set_keep_runs(keep_runs);
    return std::string(ValidatePlan(p, agents).message());
  };
  EXPECT_EQ(problems("15m", ""), "");
  EXPECT_EQ(problems("", "*/5 * * * *"), "");
  EXPECT_NE(problems("", "").find("schedule: give one of every"), std::string::npos);
  EXPECT_NE(problems("15m", "* * * * *").find("schedule: give one of every"), std::string::npos);
  EXPECT_NE(problems("fortnightly", "").find("schedule.every: 'fortnightly' is not a duration"),
            std::string::npos);
  EXPECT_NE(problems("100ms", "").find("schedule.every: 100ms is out of range"), std::string::npos);
  EXPECT_NE(problems("", "61 * * * *").find("schedule.cron: minute: 61 is out of range"),
            std::string::npos);
  EXPECT_NE(problems("1h", "", 1'000'000).find("schedule.keep_runs: 1000000 is out of range"),
            std::string::npos);
  v1::Plan unnamed = plan;
  unnamed.mutable_schedule()->set_every("1h");
  EXPECT_NE(std::string(ValidatePlan(unnamed, agents).message())
                .find("name: a scheduled plan needs a name"),
            std::string::npos);
}

}  // namespace
}  // namespace rstmesh
