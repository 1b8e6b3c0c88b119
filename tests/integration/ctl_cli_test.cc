// The whole product as an operator runs it: rstmesh-controller and rstmesh-agent as real
// processes on loopback, driven by rstmeshctl. Every subcommand and output format, the
// audit exit codes 0/1/2/3, /metrics against the report, and a controller killed with
// SIGKILL mid-run that resumes on its data directory with every observation stored once.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/scenario.h"
#include "core/wire_header.h"
#include "tests/support/http_get.h"
#include "tests/support/plans.h"
#include "tests/support/process_fleet.h"
#include "tests/support/raw_client.h"
#include "tests/support/subprocess.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Count;
using testing::HttpGet;
using testing::RunProcess;
using testing::RunResult;
using testing::Subprocess;
using testing::WaitFor;

const std::string kCtl = RSTMESH_CTL_BIN;

// One sample line of the Prometheus text format: name{label="value",...} number.
bool ParseSample(const std::string& line, std::string* name, double* value) {
  size_t i = 0;
  auto name_char = [](char c, bool first) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
           (!first && std::isdigit(static_cast<unsigned char>(c)));
  };
  while (i < line.size() && name_char(line[i], i == 0)) ++i;
  if (i == 0) return false;
  *name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t start = i;
      while (i < line.size() && name_char(line[i], i == start)) ++i;
      if (i == start || line.compare(i, 2, "=\"") != 0) return false;
      i += 2;
      while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
      if (i >= line.size()) return false;
      ++i;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') return false;
  return absl::SimpleAtod(line.substr(i + 1), value);
}

// The product on loopback: a controller and three agents (node-1 and node-2 in zone a,
// node-3 in zone b), as real processes.
class CtlCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartController("127.0.0.1:0");
    for (int i = 1; i <= 3; ++i) StartAgent(i, i == 3 ? "b" : "a");
    ASSERT_TRUE(WaitForAgents(3));
  }

  void StartController(const std::string& listen, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--agent-timeout-ms", "3000"});
    ASSERT_TRUE(fleet_.StartController(extra, listen));
    address_ = fleet_.address();
    metrics_port_ = fleet_.metrics_port();
  }

  void StartAgent(int i, const std::string& zone, bool misbehave = false) {
    std::vector<std::string> extra;
    if (misbehave) extra.push_back("--test-reset-everything");
    ASSERT_TRUE(fleet_.StartAgent(i, zone, extra));
  }

  bool WaitForAgents(size_t n) { return fleet_.WaitForAgents(n); }
  RunResult Ctl(std::vector<std::string> args) { return fleet_.Ctl(std::move(args)); }
  std::string WritePlan(const std::string& name, const std::string& text) {
    return fleet_.WritePlan(name, text);
  }

  testing::ProcessFleet fleet_;
  std::string address_;
  int metrics_port_ = 0;
};

const std::string kEveryScenario =
    "name: every scenario\npattern: {kind: full_mesh}\n" + testing::EveryScenarioYaml();

TEST_F(CtlCliTest, EverySubcommandAndFormat) {
  auto scenarios = Ctl({"scenarios"});
  EXPECT_EQ(scenarios.exit_code, 0) << scenarios.err;
  EXPECT_NE(scenarios.out.find("S4   write_after_peer_close   FIN_THEN_RST"), std::string::npos)
      << scenarios.out;
  const uint32_t scenarios_n = testing::ScenarioCount();
  const uint32_t tasks = 6 * scenarios_n;  // 6 ordered pairs
  EXPECT_EQ(Count(Ctl({"scenarios", "-o", "json"}).out, "\"name\""), scenarios_n);
  auto agents = Ctl({"agents"});
  EXPECT_EQ(agents.exit_code, 0);
  EXPECT_NE(agents.out.find("node-3"), std::string::npos);
  EXPECT_NE(agents.out.find("zone=b"), std::string::npos);
  EXPECT_NE(agents.out.find("3 agents"), std::string::npos);

  auto run = Ctl({"run", "-f", WritePlan("all.yaml", kEveryScenario), "--wait"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      run.err, m, std::regex(absl::StrCat("started (run-\\d+) with ", tasks, " tasks"))))
      << run.err;
  const std::string run_id = m[1];
  EXPECT_NE(run.out.find(absl::StrCat(tasks, "/", tasks, " tasks")), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("none: every path ended connections as Linux predicts"),
            std::string::npos);

  auto table = Ctl({"report", run_id});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("AGENT PAIRS"), std::string::npos);
  EXPECT_EQ(Count(table.out, "DEVIATION"), 0u);
  auto wide = Ctl({"report", run_id, "-o", "wide"});
  EXPECT_EQ(wide.exit_code, 0);
  EXPECT_EQ(Count(wide.out, "  PASS\n"), tasks + 3 * scenarios_n) << wide.out;  // + zone cells
  auto csv = Ctl({"report", run_id, "-o", "csv"});
  EXPECT_EQ(csv.exit_code, 0);
  EXPECT_EQ(Count(csv.out, "\n"), tasks + 1);  // header + one cell per pair and scenario
  EXPECT_EQ(Count(csv.out, ",PASS,"), tasks);
  auto json = Ctl({"report", run_id, "-o", "json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_NE(json.out.find(absl::StrCat("\"pass\": \"", tasks, "\"")), std::string::npos)
      << json.out.substr(0, 400);

  // export: tasks x roles, refused having no responder side.
  auto exported = Ctl({"export", run_id});
  EXPECT_EQ(exported.exit_code, 0);
  const uint32_t responders = tasks - 6;  // refused's responder never sees its connection
  EXPECT_EQ(Count(exported.out, "\n"), tasks + responders);
  EXPECT_EQ(Count(exported.out, "\"role\":\"ROLE_RESPONDER\""), responders);

  auto runs = Ctl({"runs"});
  EXPECT_NE(runs.out.find(
                absl::StrCat(run_id, " (every scenario): finished, ", tasks, "/", tasks, " tasks")),
            std::string::npos)
      << runs.out;
  auto watch = Ctl({"watch", run_id});
  EXPECT_EQ(watch.exit_code, 0);
  EXPECT_NE(watch.out.find("finished"), std::string::npos);

  auto missing = Ctl({"report", "run-999"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no run 'run-999'"), std::string::npos) << missing.err;
}

// The controller hands each run's key to its agents and revokes it when the run ends: a
// run's tests pass; afterwards a header for that run is refused as expired, one for a run
// never started as unknown, and neither is acted on.
TEST_F(CtlCliTest, DataPortActsOnlyOnHeadersOfALiveRun) {
  auto run = Ctl({"run", "-f",
                  WritePlan("p.yaml",
                            "pattern: {kind: full_mesh}\n"
                            "scenarios: [{name: abortive_close}]\n"),
                  "--wait"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(fleet_.first_line(1), m, std::regex(R"(data=([\d.]+):(\d+))")))
      << fleet_.first_line(1);
  asio::ip::tcp::endpoint node1(asio::ip::make_address(m[1].str()),
                                static_cast<uint16_t>(std::stoi(m[2])));
  for (uint64_t run_number : {1, 99}) {
    TestHeader header;
    header.scenario = v1::SCENARIO_ABORTIVE_CLOSE;
    header.task_id = run_number << 32 | 1;
    header.params = ResolveParams(*FindScenario(header.scenario), {});
    header.nonce = 12345;
    auto bytes = EncodeHeader(header);  // unsigned: nobody outside the run has its key
    testing::RawClient client(node1);
    ASSERT_TRUE(client.Send({bytes.begin(), bytes.end()}));
    EXPECT_TRUE(client.WaitClosedByPeer(seconds(10)));
  }
  fleet_.agent(1).Signal(SIGTERM);
  EXPECT_EQ(fleet_.agent(1).Wait(seconds(10)), 0);
  // node-1 answered its two tests of the run and nothing else.
  EXPECT_NE(fleet_.agent(1).out().find("completed=2 "), std::string::npos) << fleet_.agent(1).out();
  EXPECT_NE(fleet_.agent(1).out().find("unknown_run=1 expired_run=1 replayed=0"), std::string::npos)
      << fleet_.agent(1).out();
}

// Limits on a controller restarted with tight ones: a second run at once is refused with
// the limit named, and each agent starts no more test connections per second than allowed.
TEST_F(CtlCliTest, LimitsOnParallelRunsAndClosureRateHoldAndAreCounted) {
  fleet_.StopController();
  StartController(address_, {"--max-parallel-runs", "1", "--max-closures-per-second", "10"});
  ASSERT_TRUE(WaitForAgents(3));
  auto slow = Ctl({"run", "-f",
                   WritePlan("slow.yaml",
                             "pattern: {kind: full_mesh}\n"
                             "scenarios: [{name: idle_hold, params: {idle_ms: 1500}}]\n")});
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  const std::string slow_id = slow.out.substr(0, slow.out.find('\n'));
  auto second = Ctl({"run", "-f",
                     WritePlan("second.yaml",
                               "pattern: {kind: ring}\n"
                               "scenarios: [{name: S1}]\n")});
  EXPECT_EQ(second.exit_code, 3) << second.err;
  EXPECT_NE(second.err.find("limits: 1 runs are running, the most this controller runs at once "
                            "(--max-parallel-runs 1)"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(Ctl({"watch", slow_id}).exit_code, 0);

  // 30 tests per initiating agent at 10 per second (a second's worth at once): >= 2 s.
  auto rated = Ctl({"run", "-f",
                    WritePlan("rated.yaml",
                              "pattern: {kind: full_mesh}\n"
                              "scenarios: [{name: S1, repetitions: 15}]\n"),
                    "--wait", "-o", "json"});
  ASSERT_EQ(rated.exit_code, 0) << rated.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      rated.out, m, std::regex(R"re("created_unix_ms": "(\d+)",\s*"finished_unix_ms": "(\d+)")re")))
      << rated.out.substr(0, 600);
  EXPECT_GE(std::stoll(m[2]) - std::stoll(m[1]), 1900) << "the closure rate was not held";
  const std::string metrics = HttpGet(metrics_port_, "/metrics");
  EXPECT_NE(metrics.find("rstmesh_limit_refusals_total{limit=\"parallel_runs\"} 1\n"),
            std::string::npos)
      << metrics;
  double delayed = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (absl::ConsumePrefix(&line,
                            "rstmesh_limit_delayed_tasks_total{limit=\"agent_closure_rate\"} ")) {
      ASSERT_TRUE(absl::SimpleAtod(line, &delayed));
    }
  }
  EXPECT_GT(delayed, 0) << "the rate limit never held a task back";
}

TEST_F(CtlCliTest, MetricsParseAndEqualTheReport) {
  auto run = Ctl({"run", "-f", WritePlan("all.yaml", kEveryScenario), "--wait"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string response;
  ASSERT_TRUE(WaitFor(
      [&] {
        response = HttpGet(metrics_port_, "/metrics");
        return response.find("rstmesh_runs_finished_total 1") != std::string::npos;
      },
      seconds(10)))
      << response;
  ASSERT_EQ(response.rfind("HTTP/1.1 200 OK", 0), 0u);
  std::string body = response.substr(response.find("\r\n\r\n") + 4);
  // The text format: HELP/TYPE comments, then `name{label="v",...} value` samples.
  const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? ([0-9.eE+-]+)$)");
  std::map<std::string, std::string> types;
  double results_total = 0, pass_total = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    std::string l(line);
    if (l.rfind("# HELP ", 0) == 0) continue;
    if (l.rfind("# TYPE ", 0) == 0) {
      std::vector<std::string> parts = absl::StrSplit(l, ' ');
      ASSERT_EQ(parts.size(), 4u) << l;
      EXPECT_TRUE(parts[3] == "counter" || parts[3] == "gauge" || parts[3] == "histogram") << l;
      types[parts[2]] = parts[3];
      continue;
    }
    std::string name;
    double v = 0;
    ASSERT_TRUE(ParseSample(l, &name, &v)) << "not Prometheus text: " << l;
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (absl::EndsWith(name, suffix) &&
          types.count(name.substr(0, name.size() - strlen(suffix))) &&
          types[name.substr(0, name.size() - strlen(suffix))] == "histogram") {
        family = name.substr(0, name.size() - strlen(suffix));
      }
    }
    EXPECT_TRUE(types.count(family)) << "sample before its TYPE: " << l;
    if (name == "rstmesh_task_results_total") {
      results_total += v;
      if (l.find("verdict=\"pass\"") != std::string::npos) pass_total += v;
      EXPECT_EQ(l.find("node-"), std::string::npos) << "per-agent label: " << l;
    }
  }
  EXPECT_EQ(results_total, 6 * testing::ScenarioCount());
  EXPECT_EQ(pass_total, 6 * testing::ScenarioCount());
  EXPECT_NE(body.find("rstmesh_agents_connected 3"), std::string::npos);
  EXPECT_NE(HttpGet(metrics_port_, "/healthz").find("\r\n\r\nok"), std::string::npos);
  EXPECT_NE(HttpGet(metrics_port_, "/nope").find("404"), std::string::npos);
}

TEST_F(CtlCliTest, DeviationExitsOne) {
  StartAgent(4, "b", /*misbehave=*/true);
  ASSERT_TRUE(WaitForAgents(4));
  auto run = Ctl({"run", "-f", WritePlan("bad.yaml", R"(
pattern: {kind: full_mesh}
selector: {agents: [node-1, node-4]}
scenarios: [{name: graceful_close, repetitions: 2}]
)"),
                  "--wait"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("a proxy or middlebox resets instead of closing"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("2 deviation"), std::string::npos) << run.out;
}

TEST_F(CtlCliTest, InvalidPlansExitTwoNamingTheField) {
  const std::string ring = "pattern: {kind: ring}\n";
  const std::vector<std::pair<std::string, std::string>> plans = {
      {ring + "scenarios: [{name: nope}]", "scenarios[0].name: unknown scenario 'nope'"},
      {"pattern: {kind: star}\nscenarios: [{name: S1}]", "pattern.kind: 'star' is not one of"},
      {"scenarios: [{name: S1}]", "pattern.kind: required"},
      {ring + "selector: {match_labels: {zone: z}}\nscenarios: [{name: S1}]",
       "selector: matches 0 of 3 registered agents"},
      {ring + "selector: {agents: [ghost]}\nscenarios: [{name: S1}]",
       "selector.agents[0]: 'ghost' is not a registered agent"},
      {ring + "scenarios: [{name: S1, repetitions: -1}]",
       "scenarios[0].repetitions: must not be negative"},
      {ring + "scenarios: [{name: S1, repetitions: lots}]",
       "scenarios[0].repetitions: expected an unsigned integer, got 'lots'"},
      {ring + "scenarios: [{name: S1, repetitions: 10001}]",
       "scenarios[0].repetitions: 10001 is over the maximum"},
      {ring + "scenarios: [{name: S1}]\nlimits: {deadline_s: 99999999}", "limits.deadline_s"},
      {ring + "scenarios: [{name: S1}]\nlimits: {concurrency_per_agent: 0.5}",
       "limits.concurrency_per_agent: expected an unsigned integer"},
      {ring + "scenarios: [{name: S9, params: {request_bytes: 10, read_limit: 20}}]",
       "scenarios[0]: params.read_limit: 20 must be below params.request_bytes"},
      {ring + "scenarios: [{name: S8, params: {idle_ms: 9000001}}]",
       "scenarios[0]: params.idle_ms: 9000001 exceeds the maximum"},
      {ring + "scenarios: []", "scenarios: name at least one scenario"},
      {ring + "scenarios: S1", "scenarios: expected a list, got 'S1'"},
      {"pattern: {kind: random_k, k: 5}\nscenarios: [{name: S1}]",
       "pattern.k: 5 peers per agent, but only 2 other agents are selected"},
      {ring + "scenarios: [{name: S1}]\ncolour: blue", "colour: unknown field"},
      {"pattern: {kind: ring\nscenarios: [", "plan: line "},
      {std::string(2 << 20, '#'), "bytes is over the limit"},
      {ring + "idle_discovery: {max_idle_ms: 500}",
       "idle_discovery.max_idle_ms: 500 must be longer than min_idle_ms (1000)"},
      {ring + "idle_discovery: {probes_per_round: 100}",
       "idle_discovery.probes_per_round: 100 is out of range: 2 to 64"},
      {ring + "idle_discovery: {}\nscenarios: [{name: S1}]",
       "scenarios: an idle_discovery plan runs its own idle_hold probes"},
  };
  ASSERT_GE(plans.size(), 15u);
  int i = 0;
  for (const auto& [text, message] : plans) {
    auto result = Ctl({"run", "-f", WritePlan("p" + std::to_string(i++) + ".yaml", text)});
    EXPECT_EQ(result.exit_code, 2) << message;
    EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
  }
  auto missing = Ctl({"run", "-f", fleet_.dir() + "/absent.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("cannot read"), std::string::npos);
  EXPECT_EQ(Ctl({"bogus"}).exit_code, 2);
  EXPECT_EQ(Ctl({"run"}).exit_code, 2);
  EXPECT_TRUE(Ctl({"runs"}).out.find("no runs yet") != std::string::npos) << "nothing started";
}

TEST_F(CtlCliTest, UnreachableControllerAndIncompleteRunExitThree) {
  auto unreachable =
      RunProcess({kCtl, "--insecure", "--controller", "127.0.0.1:1", "--timeout", "2", "agents"});
  EXPECT_EQ(unreachable.exit_code, 3);
  EXPECT_NE(unreachable.err.find("cannot reach the controller at 127.0.0.1:1"), std::string::npos)
      << unreachable.err;

  auto started = Ctl({"run", "-f", WritePlan("slow.yaml", R"(
pattern: {kind: full_mesh}
scenarios: [{name: idle_hold, repetitions: 20, params: {idle_ms: 2000}}]
limits: {concurrency_per_agent: 1}
)")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  std::string run_id = started.out.substr(0, started.out.find('\n'));
  auto cancel = Ctl({"cancel", run_id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  auto report = Ctl({"report", run_id});
  EXPECT_EQ(report.exit_code, 3) << report.out;
  EXPECT_NE(report.out.find("cancelled"), std::string::npos);
  EXPECT_EQ(Ctl({"cancel", run_id}).exit_code, 2) << "already cancelled";
}

// SELECT COUNT(*), COUNT(DISTINCT ...) on the controller's own store file.
std::pair<int64_t, int64_t> CountObservations(const std::string& path, const std::string& run) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT COUNT(*), COUNT(DISTINCT task_id || '/' || role) FROM observations "
                     "WHERE run_id = ?",
                     -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, run.c_str(), -1, SQLITE_TRANSIENT);
  std::pair<int64_t, int64_t> out{-1, -1};
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    out = {sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1)};
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

TEST_F(CtlCliTest, ControllerKilledMidRunResumesAndStoresEachObservationOnce) {
  auto started = Ctl({"run", "-f", WritePlan("big.yaml", R"(
name: durability
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close, repetitions: 340}]
limits: {concurrency_per_agent: 2}
)")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string run_id = started.out.substr(0, started.out.find('\n'));
  EXPECT_NE(started.err.find("2040 tasks"), std::string::npos) << started.err;
  // Let part of it run, then kill -9 the controller in the middle.
  uint64_t done = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto runs = Ctl({"runs"});
        std::smatch m;
        if (!std::regex_search(runs.out, m, std::regex(R"(running, (\d+)/2040)"))) return false;
        done = std::stoull(m[1]);
        return done >= 300;
      },
      seconds(60)));
  EXPECT_EQ(fleet_.StopController(SIGKILL), 128 + SIGKILL);
  auto before = CountObservations(fleet_.data_dir() + "/rstmesh.db", run_id);
  EXPECT_GT(before.first, 0);
  ASSERT_LT(before.first, 4080) << "killed too late to prove anything";

  // Same data directory, same address: agents reconnect and resend what was not acked.
  StartController(address_);
  ASSERT_TRUE(WaitForAgents(3));
  auto watch = Ctl({"watch", run_id});
  EXPECT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  auto report = Ctl({"report", run_id});
  EXPECT_EQ(report.exit_code, 0) << report.out;
  EXPECT_NE(report.out.find("finished, 2040/2040 tasks: 2040 pass"), std::string::npos)
      << report.out.substr(0, 300);
  auto after = CountObservations(fleet_.data_dir() + "/rstmesh.db", run_id);
  EXPECT_EQ(after.first, 4080) << "every task's two observations";
  EXPECT_EQ(after.second, after.first) << "each stored exactly once";
}

TEST_F(CtlCliTest, AgentKilledMidRunEndsItsTasksAsAgentLost) {
  auto started = Ctl({"run", "-f", WritePlan("lost.yaml", R"(
pattern: {kind: full_mesh}
scenarios: [{name: idle_hold, repetitions: 10, params: {idle_ms: 300}}]
limits: {concurrency_per_agent: 1}
)")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string run_id = started.out.substr(0, started.out.find('\n'));
  ASSERT_TRUE(WaitFor([&] { return Ctl({"runs"}).out.find("running, 0/60") == std::string::npos; },
                      seconds(30)));
  fleet_.agent(3).Signal(SIGKILL);  // node-3 dies without a word
  auto watch = Ctl({"watch", run_id});
  // No deviation, but tasks that could not be judged: not a clean audit.
  EXPECT_EQ(watch.exit_code, 4) << watch.out << watch.err;
  auto json = Ctl({"report", run_id, "-o", "json"});
  EXPECT_NE(json.out.find("\"state\": \"finished\""), std::string::npos);
  EXPECT_NE(json.out.find("\"total\": \"60\""), std::string::npos);
  EXPECT_NE(json.out.find("\"deviation\": \"0\""), std::string::npos) << json.out.substr(0, 500);
  auto table = Ctl({"report", run_id, "-o", "wide"});
  EXPECT_NE(table.out.find("INCONCLUSIVE"), std::string::npos) << table.out;
  auto results = Ctl({"report", run_id, "-o", "csv"});
  for (absl::string_view line : absl::StrSplit(results.out, '\n')) {
    if (line.find(",INCONCLUSIVE,") != std::string::npos) {
      EXPECT_NE(line.find("node-3"), absl::string_view::npos)
          << "only node-3's pairs are lost: " << line;
    }
  }
}

TEST(CtlDemoTest, DemoRunsAWholeFleetAndEveryCellPasses) {
  auto demo = RunProcess({kCtl, "demo", "--agents", "3", "--repetitions", "1"}, seconds(180));
  EXPECT_EQ(demo.exit_code, 0) << demo.out << demo.err;
  const uint32_t tasks = 6 * testing::ScenarioCount();  // 3 agents: 6 ordered pairs
  EXPECT_NE(demo.out.find(absl::StrCat("finished, ", tasks, "/", tasks, " tasks")),
            std::string::npos)
      << demo.out;
  EXPECT_EQ(Count(demo.out, "DEVIATION"), 0u);
  EXPECT_EQ(Count(demo.out, "INCONCLUSIVE"), 0u) << "run as root: silent_drop needs it";
}

}  // namespace
}  // namespace rstmesh
