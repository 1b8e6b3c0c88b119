// Continuous audits with real processes: a controller runs a scheduled plan by itself, keeps
// its audits to the plan's retention (the store pruned), says what is new since the previous
// audit (rstmeshctl audits, /metrics) when an agent starts resetting everything, keeps its
// schedules across a restart, and stops when unscheduled.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/support/http_get.h"
#include "tests/support/process_fleet.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Count;
using testing::WaitFor;

// The value of the sample `series` (name{labels} exactly as exported) in /metrics, or -1.
double Metric(int port, const std::string& series) {
  const std::string text = testing::HttpGet(port, "/metrics");
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  const size_t start = at + series.size() + 2;
  double value = -1;
  (void)absl::SimpleAtod(text.substr(start, text.find('\n', start) - start), &value);
  return value;
}

// The audits of `plan` as `rstmeshctl audits PLAN -o json` lists them: (state, NEW findings)
// newest first.
struct Audit {
  std::string run_id, state;
  int new_findings = 0;
  bool summarized = false;
};
std::vector<Audit> Audits(testing::ProcessFleet& fleet, const std::string& plan) {
  testing::RunResult listed = fleet.Ctl({"audits", plan, "-o", "json"});
  std::vector<Audit> out;
  const std::regex entry(
      R"re("status": \{\s*"run_id": "(run-\d+)",\s*"state": "(\w+)"[^}]*\},\s*"summarized": (true|false),\s*"previous_run": "[^"]*",\s*"findings": \d+,\s*"new_findings": (\d+))re");
  for (std::sregex_iterator it(listed.out.begin(), listed.out.end(), entry), end; it != end; ++it) {
    out.push_back({(*it)[1], (*it)[2], std::stoi((*it)[4]), (*it)[3] == "true"});
  }
  return out;
}

int Finished(const std::vector<Audit>& audits) {
  int n = 0;
  for (const Audit& a : audits) n += a.state == "finished";
  return n;
}

TEST(ContinuousAuditTest, ScheduledPlanRunsPrunesReportsNewFindingsAndSurvivesARestart) {
  testing::ProcessFleet fleet;
  ASSERT_TRUE(fleet.StartController());
  ASSERT_TRUE(fleet.StartAgent(1, "a"));
  ASSERT_TRUE(fleet.StartAgent(2, "b"));
  ASSERT_TRUE(fleet.WaitForAgents(2));
  const std::string plan = fleet.WritePlan("continuous.yaml", R"(
name: continuous
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close, repetitions: 2}]
schedule: {every: 2s, keep_runs: 3}
)");
  testing::RunResult scheduled = fleet.Ctl({"schedule", "-f", plan});
  ASSERT_EQ(scheduled.exit_code, 0) << scheduled.out << scheduled.err;
  EXPECT_NE(scheduled.out.find("scheduled 'continuous': every 2s, keeps last 3 audits; next audit "
                               "20"),
            std::string::npos)
      << scheduled.out;
  testing::RunResult listed = fleet.Ctl({"schedules"});
  EXPECT_NE(listed.out.find("continuous           every 2s"), std::string::npos) << listed.out;

  // Audits come by themselves and pass.
  ASSERT_TRUE(WaitFor([&] { return Finished(Audits(fleet, "continuous")) >= 2; }, seconds(30),
                      milliseconds(500)));
  const int port = fleet.metrics_port();
  EXPECT_GE(Metric(port, R"(rstmesh_scheduled_audits_total{plan="continuous",outcome="started"})"),
            2);
  EXPECT_EQ(Metric(port, R"(rstmesh_audit_schedule_interval_seconds{plan="continuous"})"), 2);
  EXPECT_EQ(Metric(port, R"(rstmesh_audit_new_findings{plan="continuous"})"), 0);

  // node-2 comes back resetting every test: the next audit has a finding the one before
  // did not.
  fleet.StopAgent(2);
  ASSERT_TRUE(fleet.StartAgent(2, "b", {"--test-reset-everything"}));
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<Audit> audits = Audits(fleet, "continuous");
        for (const Audit& a : audits) {
          if (a.summarized && a.new_findings > 0) return true;
        }
        return false;
      },
      seconds(40), milliseconds(500)))
      << fleet.Ctl({"audits", "continuous"}).out;
  EXPECT_TRUE(
      WaitFor([&] { return Metric(port, R"(rstmesh_audit_new_findings{plan="continuous"})") >= 1; },
              seconds(10), milliseconds(250)))
      << testing::HttpGet(port, "/metrics");
  testing::RunResult table = fleet.Ctl({"audits", "continuous"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_TRUE(std::regex_search(
      table.out,
      std::regex(
          R"(run-\d+ +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +finished +\d+/4 +[1-4] +0 +[1-9]\d* +[1-9])")))
      << "a finished audit with deviations and new findings\n"
      << table.out;

  // Retention: never more than 3 ended audits of the plan (one more may be under way).
  ASSERT_TRUE(WaitFor(
      [&] { return Metric(port, R"(rstmesh_audits_pruned_total{plan="continuous"})") >= 2; },
      seconds(30), milliseconds(500)));
  std::vector<Audit> kept = Audits(fleet, "continuous");
  EXPECT_LE(Finished(kept), 3) << table.out;
  EXPECT_LE(kept.size(), 4u);

  // A restarted controller (same data directory and address) still has the schedule and
  // goes on with it.
  ASSERT_EQ(fleet.StopController(SIGTERM), 0);
  ASSERT_TRUE(fleet.StartController({}, fleet.address()));
  ASSERT_TRUE(fleet.WaitForAgents(2));
  EXPECT_NE(fleet.Ctl({"schedules"}).out.find("continuous"), std::string::npos);
  const int restarted_port = fleet.metrics_port();
  EXPECT_TRUE(WaitFor(
      [&] {
        return Metric(restarted_port,
                      R"(rstmesh_scheduled_audits_total{plan="continuous",outcome="started"})") >=
               1;
      },
      seconds(20), milliseconds(500)));

  // Unscheduled: no audit starts after the one that may be under way.
  testing::RunResult unscheduled = fleet.Ctl({"unschedule", "continuous"});
  EXPECT_EQ(unscheduled.exit_code, 0) << unscheduled.err;
  EXPECT_NE(fleet.Ctl({"schedules"}).out.find("no schedules"), std::string::npos);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const Audit& a : Audits(fleet, "continuous")) {
          if (a.state == "running") return false;
        }
        return true;
      },
      seconds(20), milliseconds(500)));
  const size_t after = Audits(fleet, "continuous").size();
  EXPECT_FALSE(WaitFor([&] { return Audits(fleet, "continuous").size() > after; }, seconds(5),
                       milliseconds(500)))
      << "an audit started after unschedule";
  EXPECT_EQ(fleet.Ctl({"unschedule", "continuous"}).exit_code, 2) << "no such schedule";
}

}  // namespace
}  // namespace rstmesh
