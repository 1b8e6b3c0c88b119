// The shipped monitoring (deploy/monitoring) against the real tools and a real fleet:
// promtool checks the PrometheusRule's rules and runs their unit tests (each alert fires on
// series that should fire it and not on others); a real Prometheus server scrapes a real
// controller and agents during a run with deviations and sees increase() of deviations
// before the run ends; then every expression of the Grafana dashboard and of the alerts is
// evaluated by that server and every metric they name exists in what it scraped.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "tests/support/http_get.h"
#include "tests/support/process_fleet.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::seconds;
using testing::RunProcess;

const std::string kSource = RSTMESH_SOURCE_DIR;
const std::string kMonitoring = kSource + "/deploy/monitoring";

bool HavePromtool() { return std::filesystem::exists("/usr/bin/promtool"); }

// The PrometheusRule's spec as a plain rule file (what promtool and Prometheus read) in `dir`.
std::string ExtractRules(const std::string& dir) {
  YAML::Node rule = YAML::LoadFile(kMonitoring + "/prometheus-rule.yaml");
  EXPECT_EQ(rule["kind"].as<std::string>(), "PrometheusRule");
  YAML::Emitter out;
  out << rule["spec"];
  const std::string path = dir + "/rstmesh.rules.yaml";
  std::ofstream(path) << out.c_str() << "\n";
  return path;
}

std::string TempDir() {
  char tmpl[] = "/tmp/rstmesh-monitoring-XXXXXX";
  return mkdtemp(tmpl);
}

// Every "expr" in the dashboard's panels.
std::vector<std::string> DashboardExpressions() {
  std::ifstream in(kMonitoring + "/rstmesh-dashboard.json");
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::Struct dashboard;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text.str(), &dashboard).ok());
  std::vector<std::string> exprs;
  std::function<void(const google::protobuf::Value&)> walk = [&](const google::protobuf::Value& v) {
    if (v.has_struct_value()) {
      for (const auto& [key, field] : v.struct_value().fields()) {
        if (key == "expr" && field.has_string_value()) exprs.push_back(field.string_value());
        walk(field);
      }
    } else if (v.has_list_value()) {
      for (const auto& item : v.list_value().values()) walk(item);
    }
  };
  google::protobuf::Value root;
  *root.mutable_struct_value() = dashboard;
  walk(root);
  return exprs;
}

std::vector<std::string> RuleExpressions() {
  std::vector<std::string> exprs;
  YAML::Node rule = YAML::LoadFile(kMonitoring + "/prometheus-rule.yaml");
  for (const auto& group : rule["spec"]["groups"]) {
    for (const auto& r : group["rules"]) exprs.push_back(r["expr"].as<std::string>());
  }
  return exprs;
}

// The metric names an expression reads (rstmesh_* and recording rules rstmesh:*).
std::set<std::string> NamesIn(const std::string& expr) {
  std::set<std::string> names;
  static const std::regex kName(R"(\brstmesh[_:][a-z0-9_:]*[a-z0-9_])");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

TEST(MonitoringRulesTest, PromtoolChecksTheRulesAndEachAlertFiresOnlyWhenItShould) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool is not installed: run scripts/install-deps.sh";
  const std::string dir = TempDir();
  const std::string rules = ExtractRules(dir);
  auto check = RunProcess({"/usr/bin/promtool", "check", "rules", rules});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("SUCCESS: 12 rules found"), std::string::npos) << check.out;
  std::filesystem::copy_file(kSource + "/tests/monitoring/rules_test.yaml",
                             dir + "/rules_test.yaml");
  auto test = RunProcess({"/usr/bin/promtool", "test", "rules", dir + "/rules_test.yaml"});
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  // Every alert of the file has a unit test.
  std::ifstream in(dir + "/rules_test.yaml");
  std::stringstream tests;
  tests << in.rdbuf();
  YAML::Node rule = YAML::LoadFile(kMonitoring + "/prometheus-rule.yaml");
  for (const auto& group : rule["spec"]["groups"]) {
    for (const auto& r : group["rules"]) {
      if (!r["alert"]) continue;
      EXPECT_NE(tests.str().find("alertname: " + r["alert"].as<std::string>() + "\n"),
                std::string::npos)
          << r["alert"].as<std::string>() << " has no promtool test";
    }
  }
  std::filesystem::remove_all(dir);
}

class MonitoringFleetTest : public ::testing::Test {
 protected:
  int AgentMetricsPort(int i) {
    std::smatch m;
    const std::string& line = fleet_.first_line(i);
    EXPECT_TRUE(std::regex_search(line, m, std::regex(R"(metrics=(\d+))"))) << line;
    return m.empty() ? 0 : std::stoi(m[1]);
  }

  testing::ProcessFleet fleet_;
};

TEST_F(MonitoringFleetTest, PrometheusSeesDeviationsWhileTheRunGoesOnAndEveryQueryHasItsMetrics) {
  if (!std::filesystem::exists("/usr/bin/prometheus")) {
    GTEST_SKIP() << "prometheus is not installed: run scripts/install-deps.sh";
  }
  ASSERT_TRUE(fleet_.StartController());
  // node-3 answers every test with a reset: every test towards it deviates.
  ASSERT_TRUE(fleet_.StartAgent(1, "a", {"--metrics-listen", "127.0.0.1:0"}));
  ASSERT_TRUE(fleet_.StartAgent(2, "a", {"--metrics-listen", "127.0.0.1:0"}));
  ASSERT_TRUE(
      fleet_.StartAgent(3, "b", {"--metrics-listen", "127.0.0.1:0", "--test-reset-everything"}));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  // A scheduled plan whose first audit is months away: its schedule's series exist (the
  // overdue alert and the dashboard read them) without an audit getting in this run's way.
  auto scheduled = fleet_.Ctl({"schedule", "-f",
                               fleet_.WritePlan("yearly.yaml",
                                                "name: yearly\n"
                                                "pattern: {kind: full_mesh}\n"
                                                "scenarios: [{name: graceful_close}]\n"
                                                "schedule: {cron: \"0 0 1 1 *\"}\n")});
  ASSERT_EQ(scheduled.exit_code, 0) << scheduled.err;
  const std::string dir = TempDir();
  const std::string rules = ExtractRules(dir);
  testing::PrometheusServer prometheus({absl::StrCat("127.0.0.1:", fleet_.metrics_port()),
                                        absl::StrCat("127.0.0.1:", AgentMetricsPort(1)),
                                        absl::StrCat("127.0.0.1:", AgentMetricsPort(2)),
                                        absl::StrCat("127.0.0.1:", AgentMetricsPort(3))},
                                       {rules});
  ASSERT_TRUE(prometheus.Start()) << prometheus.error();
  ASSERT_TRUE(testing::WaitFor([&] { return prometheus.Sum("sum(up)") == 4.0; }, seconds(30),
                               std::chrono::milliseconds(500)))
      << prometheus.error();

  // 6 pairs x 40 tests, each pair's tests 250 ms apart: about 10 s.
  auto run = fleet_.Ctl({"run", "-f",
                         fleet_.WritePlan("monitored.yaml",
                                          "name: monitored\n"
                                          "pattern: {kind: full_mesh}\n"
                                          "scenarios: [{name: graceful_close, repetitions: 40}]\n"
                                          "limits: {pair_spacing_ms: 250}\n")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string run_id = run.out.substr(0, run.out.find('\n'));

  // Before the run ends, Prometheus sees its deviations rise and a clean path at 0.
  double deviations = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        deviations =
            prometheus.Sum("sum(increase(rstmesh_task_results_total{verdict=\"deviation\"}[30s]))")
                .value_or(0);
        return deviations > 0;
      },
      seconds(30), std::chrono::milliseconds(500)))
      << prometheus.error();
  const std::string metrics = testing::HttpGet(fleet_.metrics_port(), "/metrics");
  EXPECT_NE(metrics.find("rstmesh_runs{state=\"running\"} 1\n"), std::string::npos)
      << "the run ended before Prometheus saw its deviations\n"
      << metrics;
  EXPECT_EQ(prometheus.Sum("sum(rstmesh_task_results_total{verdict=\"deviation\",dst_zone=\"a\"})"),
            0.0)
      << "the clean paths' deviation series exist at 0";
  EXPECT_GT(prometheus.Sum("sum(rstmesh_running_tasks{progress=\"total\"})").value_or(0), 0);

  auto watch = fleet_.Ctl({"watch", run_id});
  EXPECT_EQ(watch.exit_code, 1) << watch.out << watch.err;  // it deviated
  // The finished audit reaches Prometheus: its time, and its deviations counted to the end.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return prometheus.Sum("rstmesh_last_audit_finished_timestamp_seconds{plan=\"monitored\"}")
                   .has_value() &&
               prometheus.Sum("rstmesh_last_audit_tasks{plan=\"monitored\",verdict=\"deviation\"}")
                   .has_value();
      },
      seconds(30), std::chrono::milliseconds(500)));
  // Every test towards node-3 (2 initiators x 40) deviated; the rest passed.
  EXPECT_EQ(prometheus.Sum("sum(rstmesh_task_results_total{verdict=\"deviation\"})"), 80.0);
  EXPECT_EQ(prometheus.Sum("sum(rstmesh_task_results_total{verdict=\"pass\"})"), 160.0);
  EXPECT_EQ(prometheus.Sum("rstmesh_last_audit_tasks{plan=\"monitored\",verdict=\"deviation\"}"),
            80.0);
  EXPECT_GT(prometheus.Sum("sum(rstmesh_agent_data_port_tests_total)").value_or(0), 0);
  // The agents counted every test they initiated (3 x 2 targets x 40), by scenario and class.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return prometheus.Sum(
                   "sum(rstmesh_agent_closures_total{role=\"initiator\","
                   "scenario=\"graceful_close\"})") == 240.0;
      },
      seconds(10), std::chrono::milliseconds(500)))
      << prometheus.Sum("sum(rstmesh_agent_closures_total{role=\"initiator\"})").value_or(-1);
  // The deviation alert fires for the path to zone b, for graceful_close.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto alerts = prometheus.Query("ALERTS{alertname=\"RstmeshPathDeviations\"}");
        return alerts && alerts->values_size() == 1;
      },
      seconds(20), std::chrono::milliseconds(500)));
  auto alert = prometheus.Query("ALERTS{alertname=\"RstmeshPathDeviations\"}");
  const auto& labels =
      alert->values(0).struct_value().fields().at("metric").struct_value().fields();
  EXPECT_EQ(labels.at("src_zone").string_value(), "a");
  EXPECT_EQ(labels.at("dst_zone").string_value(), "b");
  EXPECT_EQ(labels.at("scenario").string_value(), "graceful_close");

  // Every expression of the dashboard and the rules evaluates, every name they read was
  // scraped (or recorded), and the dashboard's panels have data (a stat that counts what
  // is not there, "== 0", may be empty).
  const std::vector<std::string> names = prometheus.MetricNames();
  const std::set<std::string> scraped(names.begin(), names.end());
  std::vector<std::string> exprs = DashboardExpressions();
  ASSERT_GE(exprs.size(), 20u);
  for (const std::string& expr : exprs) {
    auto result = prometheus.Query(expr);
    ASSERT_TRUE(result.has_value()) << expr << ": " << prometheus.error();
    if (expr.find("== 0") == std::string::npos) {
      EXPECT_GT(result->values_size(), 0) << "dashboard query has no data: " << expr;
    }
    for (const std::string& name : NamesIn(expr)) {
      EXPECT_TRUE(scraped.count(name)) << "dashboard reads " << name << ", which nothing exports";
    }
  }
  for (const std::string& expr : RuleExpressions()) {
    EXPECT_TRUE(prometheus.Query(expr).has_value()) << expr << ": " << prometheus.error();
    for (const std::string& name : NamesIn(expr)) {
      EXPECT_TRUE(scraped.count(name)) << "an alert reads " << name << ", which nothing exports";
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rstmesh
