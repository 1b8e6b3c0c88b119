// The fleet on real network namespaces: 8 hosts in 3 zones behind a router namespace, the
// controller in its own, every binary real. Runs as root; elsewhere it says SKIPPED and why.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <cstdio>
#include <thread>

#include <fstream>
#include <iostream>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/scenario.h"
#include "rstmesh/v1/control.pb.h"
#include "tests/fleet/netns_fleet.h"
#include "tests/support/plans.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::seconds;
using testing::Count;
using testing::NetnsFleet;
using testing::WaitFor;

// One CSV line (RFC 4180 quoting) into fields.
std::vector<std::string> SplitCsv(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// A finding as a test states it: the cause, where (the places' words) and the scenarios it
// explains.
struct Expected {
  std::string cause;
  std::set<std::string> places;
  std::set<std::string> scenarios;
  bool operator<(const Expected& o) const {
    return std::tie(cause, places, scenarios) < std::tie(o.cause, o.places, o.scenarios);
  }
  bool operator==(const Expected& o) const = default;
};

std::ostream& operator<<(std::ostream& os, const Expected& e) {
  return os << "{" << e.cause << " at [" << absl::StrJoin(e.places, "; ") << "] explaining ["
            << absl::StrJoin(e.scenarios, ", ") << "]}";
}

class FleetTest : public ::testing::Test {
 protected:
  virtual NetnsFleet::Family Family() const { return NetnsFleet::Family::kIPv4; }

  void SetUp() override {
    if (absl::Status available = NetnsFleet::Available(); !available.ok()) {
      GTEST_SKIP() << "fleet tests SKIPPED: " << available.message();
    }
    fleet_ = std::make_unique<NetnsFleet>(std::vector<int>{3, 3, 2}, RSTMESH_CONTROLLER_BIN,
                                          RSTMESH_AGENT_BIN, Family());
    absl::Status started = fleet_->Start();
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_TRUE(WaitFor(
        [&] {
          return Count(Ctl({"agents", "-o", "json"}).out, "\"data_endpoint\"") ==
                 fleet_->hosts().size();
        },
        seconds(30)))
        << Ctl({"agents"}).out;
  }

  // The plan file goes with the test (the fleet's namespaces go with fleet_).
  void TearDown() override { std::remove(PlanPath().c_str()); }

  testing::RunResult Ctl(std::vector<std::string> args) {
    return fleet_->Ctl(RSTMESH_CTL_BIN, std::move(args));
  }

  static std::string PlanPath() {
    return absl::StrCat("/tmp/rstmesh-fleet-plan-", getpid(), ".yaml");
  }
  std::string Plan(const std::string& text) {
    std::ofstream(PlanPath()) << text;
    return PlanPath();
  }

  // Runs `plan` to its end (`run --wait`), with `args` such as an output format.
  testing::RunResult Audit(const std::string& plan, std::vector<std::string> args = {}) {
    std::vector<std::string> argv = {"run", "-f", Plan(plan), "--wait"};
    argv.insert(argv.end(), args.begin(), args.end());
    return Ctl(std::move(argv));
  }

  // The run's report, as `rstmeshctl report -o json` prints it.
  v1::Report Report(const std::string& run_id) {
    auto json = Ctl({"report", run_id, "-o", "json"});
    v1::Report report;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &report).ok())
        << json.out << json.err;
    return report;
  }

  // The run's findings are exactly `want`: nothing else is reported. Returns the report.
  v1::Report ExpectFindings(const std::string& run_id, std::vector<Expected> want) {
    v1::Report report = Report(run_id);
    std::vector<Expected> got;
    for (const v1::Finding& f : report.findings()) {
      Expected e{f.cause(), {}, {}};
      for (const v1::Place& p : f.places()) e.places.insert(p.text());
      for (int s : f.scenarios()) {
        const ScenarioDef* def = FindScenario(static_cast<v1::Scenario>(s));
        e.scenarios.insert(def ? std::string(def->name) : "?");
      }
      got.push_back(std::move(e));
    }
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    // The operator's view, in the test log: the findings as the table prints them.
    const std::string table = Ctl({"report", run_id}).out;
    std::cout << table.substr(0, table.find("\nZONES")) << "\n";
    EXPECT_EQ(got, want) << table;
    return report;
  }

  // Applies nft rules in the router's forward chain.
  void Profile(const std::vector<std::string>& rules) {
    ASSERT_TRUE(fleet_->InRouter("nft add table inet rsm").ok());
    ASSERT_TRUE(
        fleet_->InRouter("nft 'add chain inet rsm path { type filter hook forward priority 0 ; }'")
            .ok());
    for (const std::string& rule : rules) {
      ASSERT_TRUE(fleet_->InRouter("nft add rule inet rsm path " + rule).ok()) << rule;
    }
  }

  // Checks a CSV report: cells of `scenario` on the affected zone pairs deviate with
  // `observed` and `diagnosis`; every other cell passes. Returns the deviating cells.
  int ExpectOnly(const std::string& csv, const std::string& scenario,
                 const std::set<std::pair<std::string, std::string>>& affected,
                 const std::string& observed, const std::string& diagnosis) {
    int deviated = 0;
    for (absl::string_view line : absl::StrSplit(csv, '\n')) {
      if (line.empty() || absl::StartsWith(line, "source,")) continue;
      std::vector<std::string> f = SplitCsv(line);
      EXPECT_GE(f.size(), 12u) << line;
      if (f.size() < 12) continue;
      const bool hit = affected.count({f[0].substr(0, 2), f[1].substr(0, 2)}) > 0;
      if (hit && f[2] == scenario) {
        EXPECT_EQ(f[10], "DEVIATION") << line;
        EXPECT_EQ(f[7], observed) << line;
        EXPECT_EQ(f[11], diagnosis) << line;
        ++deviated;
      } else {
        EXPECT_EQ(f[10], "PASS") << "a path without the profile was flagged: " << line;
      }
    }
    return deviated;
  }

  std::unique_ptr<NetnsFleet> fleet_;
};

TEST_F(FleetTest, CleanPathsPassEverywhereWithNoFinding) {
  auto run = Audit("name: clean fleet\npattern: {kind: full_mesh}\n" +
                       testing::EveryScenarioYaml() + "limits: {concurrency_per_agent: 4}\n",
                   {"-o", "wide"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const size_t scenarios = testing::ScenarioCount();
  const size_t tasks = 8 * 7 * scenarios;
  EXPECT_NE(run.out.find(absl::StrCat("finished, ", tasks, "/", tasks, " tasks: ", tasks,
                                      " pass, 0 deviation, 0 inconclusive")),
            std::string::npos)
      << run.out.substr(0, 600);
  EXPECT_NE(run.out.find("none: every path ended connections as Linux predicts"),
            std::string::npos);
  // Agent-pair cells and the zone roll-up (3 x 3 zone pairs) all PASS; no cell anything else.
  EXPECT_EQ(Count(run.out, "  PASS\n"), (56u + 9u) * scenarios);
  EXPECT_EQ(Count(run.out, "DEVIATION"), 0u);
  v1::Report report = ExpectFindings("run-1", {});
  EXPECT_EQ(report.inconclusive_size(), 0);
}  // namespace

// A router that drops resets between zones z1 and z2: every scenario whose end is a RST
// (abortive close, the refusal of a closed port, the RST answering writes after a FIN)
// changes across that zone pair, and only there. One cause, one finding, not three.
TEST_F(FleetTest, ResetsDroppedBetweenTwoZonesAreOneFindingOnThosePairsOnly) {
  Profile({"iifname br1 oifname br2 'tcp flags & rst == rst' drop",
           "iifname br2 oifname br1 'tcp flags & rst == rst' drop"});
  auto run = Audit(R"(
name: resets dropped z1<->z2
pattern: {kind: full_mesh}
scenarios: [{name: abortive_close}, {name: graceful_close}, {name: refused},
            {name: write_after_peer_close}]
limits: {concurrency_per_agent: 8}
)",
                   {"-o", "csv"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  v1::Report report =
      ExpectFindings("run-1", {{"resets_dropped",
                                {"zone z1 <-> z2"},
                                {"abortive_close", "refused", "write_after_peer_close"}}});
  ASSERT_EQ(report.findings_size(), 1);
  EXPECT_EQ(report.findings(0).paths(), 18u);
  EXPECT_EQ(report.findings(0).deviated(), 18u * 3);
  EXPECT_EQ(report.findings(0).tasks(), 18u * 3);
  auto table = Ctl({"report", "run-1"});
  EXPECT_NE(table.out.find("  resets are dropped by a firewall or load balancer\n      where: "
                           "zone z1 <-> z2 (18 paths)\n      explains: abortive_close, "
                           "write_after_peer_close, refused; 54 of 54 tasks on 18 paths\n"),
            std::string::npos)
      << table.out.substr(0, 1200);
  // The HTML page: the 18 crossing agent pairs red, the other 38 green.
  auto html = Ctl({"report", "run-1", "-o", "html"});
  EXPECT_EQ(html.exit_code, 1);
  std::string agents = html.out.substr(html.out.find("<section id=\"agents\">"));
  // 3 of the 4 tasks of each crossing pair deviated: the second darkest shade.
  EXPECT_EQ(Count(agents, "<td class=\"d3\""), 18u);
  EXPECT_EQ(Count(agents, "<td class=\"p\""), 8u * 7 - 18);
}

// A firewall with a DROP policy for closed ports on the way from z1 to z3: refused times out
// there, and only there.
TEST_F(FleetTest, ClosedPortsDroppedAreFoundOnThatPathOnly) {
  Profile({"iifname br1 oifname br3 tcp dport 7403 drop"});
  auto run = Audit(R"(
name: closed ports dropped z1->z3
pattern: {kind: full_mesh}
scenarios: [{name: refused}, {name: graceful_close}, {name: abortive_close}]
limits: {concurrency_per_agent: 8}
)",
                   {"-o", "csv"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_EQ(ExpectOnly(run.out, "refused", {{"z1", "z3"}}, "TIMEOUTx1",
                       "closed ports are dropped (DROP policy), not rejected"),
            3 * 2);
  // abortive_close's RSTs arrive on the same path: not dropped resets.
  v1::Report report =
      ExpectFindings("run-1", {{"closed_port_dropped", {"zone z1 -> z3"}, {"refused"}}});
  EXPECT_EQ(report.findings(0).also_consistent_with_size(), 0);
}

// Two audits of the same plan, before and after resets start being dropped between z1 and
// z2: `diff` names the new finding (exit 1), and the other way round the resolved one.
TEST_F(FleetTest, DiffNamesWhatANewFaultChanged) {
  const std::string plan = R"(
name: before and after
pattern: {kind: full_mesh}
scenarios: [{name: abortive_close}, {name: graceful_close}]
limits: {concurrency_per_agent: 8}
)";
  ASSERT_EQ(Audit(plan).exit_code, 0);
  Profile({"iifname br1 oifname br2 'tcp flags & rst == rst' drop",
           "iifname br2 oifname br1 'tcp flags & rst == rst' drop"});
  ASSERT_EQ(Audit(plan).exit_code, 1);
  auto forward = Ctl({"diff", "run-1", "run-2"});
  EXPECT_EQ(forward.exit_code, 1) << forward.out << forward.err;
  EXPECT_NE(forward.out.find("findings of run-2 against run-1: 1 new, 0 resolved, 0 unchanged\n\n"
                             "NEW\n  resets are dropped by a firewall or load balancer at zone z1 "
                             "<-> z2\n      (abortive_close; 18 of 18 tasks on 18 paths)\n"),
            std::string::npos)
      << forward.out;
  auto backward = Ctl({"diff", "run-2", "run-1"});
  EXPECT_EQ(backward.exit_code, 0) << backward.out << backward.err;
  EXPECT_NE(backward.out.find("0 new, 1 resolved, 0 unchanged"), std::string::npos) << backward.out;
  auto same = Ctl({"diff", "run-2", "run-2", "-o", "json"});
  EXPECT_EQ(same.exit_code, 0) << same.out;
  EXPECT_NE(same.out.find("\"unchanged\": ["), std::string::npos) << same.out;
  EXPECT_EQ(Ctl({"diff", "run-1", "run-9"}).exit_code, 2) << "an unknown run";
}

// A blackhole for new connections from z1 to z2: connect() times out in every scenario.
// One finding, "unreachable", not the closure symptoms that need a connection to exist.
TEST_F(FleetTest, BlackholeIsUnreachableAndNothingElse) {
  Profile({"iifname br1 oifname br2 ct state new drop"});
  auto run = Audit(R"(
name: blackhole z1->z2
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close}, {name: abortive_close}, {name: refused},
            {name: idle_hold, params: {idle_ms: 300}}]
limits: {concurrency_per_agent: 8}
)");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  v1::Report report =
      ExpectFindings("run-1", {{"unreachable",
                                {"zone z1 -> z2"},
                                {"graceful_close", "abortive_close", "refused", "idle_hold"}}});
  EXPECT_EQ(report.findings(0).deviated(), 9u * 4);
  EXPECT_NE(run.out.find("the path is unreachable: SYNs are dropped (blackhole)\n      where: "
                         "zone z1 -> z2 (9 paths)"),
            std::string::npos)
      << run.out.substr(0, 1200);
}

// A firewall that answers SYNs to the agents' data port from z1 to z2 with a RST: the
// responders never see them, the closed port's refusal is what Linux predicts anyway.
TEST_F(FleetTest, SynAnsweredByTheRoutersResetIsAPathRefusal) {
  Profile(
      {"iifname br1 oifname br2 tcp dport 7402 'tcp flags & (syn | ack) == syn' reject with "
       "tcp reset"});
  auto run = Audit(R"(
name: router refuses z1->z2
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close}, {name: abortive_close}, {name: refused}]
limits: {concurrency_per_agent: 8}
)");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  v1::Report report = ExpectFindings(
      "run-1", {{"path_refuses", {"zone z1 -> z2"}, {"graceful_close", "abortive_close"}}});
  EXPECT_EQ(report.findings(0).deviated(), 9u * 2);
}

// ICMP administratively prohibited from the router, z1 -> z3: EHOSTUNREACH at connect().
TEST_F(FleetTest, IcmpProhibitedIsTheFirewallsAnswer) {
  Profile(
      {"iifname br1 oifname br3 meta nfproto ipv4 'tcp flags & (syn | ack) == syn' reject "
       "with icmp type admin-prohibited"});
  auto run = Audit(R"(
name: icmp prohibited z1->z3
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close}, {name: refused}]
limits: {concurrency_per_agent: 8}
)");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  ExpectFindings("run-1", {{"prohibited", {"zone z1 -> z3"}, {"graceful_close", "refused"}}});
  auto exported = Ctl({"export", "run-1"});
  EXPECT_EQ(Count(exported.out, "\"error_number\":113"), 3u * 2 * 2) << "EHOSTUNREACH";
}

// A host firewall on z2-h1 that drops every RST coming in: the connections z2-h1 opens
// never see their peers' resets; the connections to it are fine. Named as that host.
TEST_F(FleetTest, AFaultOnOneHostsInboundTrafficIsNamedAsThatHost) {
  const size_t host = fleet_->HostIndex("z2-h1");
  for (const std::string& cmd :
       {std::string("nft add table inet host"),
        std::string("nft 'add chain inet host in { type filter hook input priority 0 ; }'"),
        std::string("nft add rule inet host in 'tcp flags & rst == rst' drop")}) {
    ASSERT_TRUE(fleet_->InHost(host, cmd).ok()) << cmd;
  }
  auto run = Audit(R"(
name: host z2-h1 drops inbound resets
pattern: {kind: full_mesh}
scenarios: [{name: abortive_close}, {name: graceful_close}]
limits: {concurrency_per_agent: 8}
)");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  ExpectFindings("run-1", {{"resets_dropped",
                            {"z2-h1: its inbound traffic (answers to the connections z2-h1 opens)"},
                            {"abortive_close"}}});
}

// A responder host that hangs (its agent stopped for 6 s) mid-run: the tests it was part of
// cannot be judged, and that is what the report says: no path finding, the host named, and
// the audit's exit code says it is not complete.
TEST_F(FleetTest, AHungResponderIsNoPathFinding) {
  const size_t host = fleet_->HostIndex("z2-h1");
  auto started = Ctl({"run", "-f", Plan(R"(
name: hung host
pattern: {kind: full_mesh}
scenarios: [{name: idle_hold, repetitions: 4, params: {idle_ms: 1000}}]
limits: {concurrency_per_agent: 2}
)")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string run_id = started.out.substr(0, started.out.find('\n'));
  ASSERT_TRUE(WaitFor([&] { return Report(run_id).status().done() >= 20; }, seconds(60)));
  fleet_->SignalAgent(host, SIGSTOP);
  std::this_thread::sleep_for(seconds(6));  // the fault: a host hung for 6 s
  fleet_->SignalAgent(host, SIGCONT);
  auto watch = Ctl({"watch", run_id});
  v1::Report report = ExpectFindings(run_id, {});
  EXPECT_EQ(report.status().deviation(), 0u);
  ASSERT_GT(report.status().inconclusive(), 0u);
  EXPECT_EQ(watch.exit_code, 4) << watch.out << watch.err;
  for (const v1::InconclusiveReason& r : report.inconclusive()) {
    SCOPED_TRACE(r.ShortDebugString());
    ASSERT_GT(r.agents_size(), 0);
    EXPECT_TRUE(absl::StartsWith(r.agents(0), "z2-h1 ("));
  }
}  // namespace rstmesh

// Idle expiry on the way from z1 to z2: a conntrack timeout of 2 s for those flows, then the
// router treats their next packet as invalid: reset (AWS NLB style) or silent drop
// (Azure LB / GCP firewall style). idle_hold with 3.5 s of idle shows which; shorter idle
// and every other path pass.
void IdleExpiryProfile(NetnsFleet& fleet, const std::string& invalid_action) {
  for (const std::string& cmd : {
           std::string("nft add table inet idle"),
           std::string("nft 'add ct timeout inet idle short { protocol tcp; l3proto ip; "
                       "policy = { established: 2 }; }'"),
           std::string("nft 'add chain inet idle pre { type filter hook prerouting priority "
                       "-150 ; }'"),
           std::string("nft add rule inet idle pre iifname br1 ip daddr 198.18.2.0/24 ct state "
                       "new ct timeout set short"),
           std::string("nft 'add chain inet idle path { type filter hook forward priority 0 ; }'"),
           // Only on the tested zone pair: the agents' own streams to the controller were
           // established before conntrack ran and must not be judged invalid.
           "nft add rule inet idle path iifname br1 oifname br2 ct state invalid " + invalid_action,
           "nft add rule inet idle path iifname br2 oifname br1 ct state invalid " + invalid_action,
           std::string("sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0"),
       }) {
    ASSERT_TRUE(fleet.InRouter(cmd).ok()) << cmd;
  }
}

constexpr const char* kIdlePlan = R"(
name: idle expiry z1->z2
pattern: {kind: full_mesh}
scenarios: [{name: idle_hold, params: {idle_ms: 3500}}, {name: graceful_close}]
limits: {concurrency_per_agent: 8}
)";

TEST_F(FleetTest, IdleExpiryThatResetsTheNextSenderIsFound) {
  IdleExpiryProfile(*fleet_, "reject with tcp reset");
  auto run = Audit(kIdlePlan, {"-o", "csv"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  int deviated = 0;
  for (absl::string_view line : absl::StrSplit(run.out, '\n')) {
    std::vector<std::string> f = SplitCsv(line);
    if (f.size() < 12 || f[0] == "source") continue;
    if (f[0].substr(0, 2) == "z1" && f[1].substr(0, 2) == "z2" && f[2] == "idle_hold") {
      EXPECT_EQ(f[10], "DEVIATION") << line;
      EXPECT_EQ(f[7], "RSTx1") << line;
      EXPECT_TRUE(absl::StartsWith(
          f[11], "an idle timer expired and the path reset the next packet (AWS NLB style)"))
          << line;
      // The reset came from the router: the responder never sent one.
      EXPECT_NE(f[11].find("the reset came from the path, not the peer"), std::string::npos)
          << line;
      ++deviated;
    } else {
      EXPECT_EQ(f[10], "PASS") << line;
    }
  }
  EXPECT_EQ(deviated, 3 * 3);
  // Only the connections that idled were reset: idle expiry, not a forged reset.
  ExpectFindings("run-1", {{"idle_reset", {"zone z1 -> z2"}, {"idle_hold"}}});
}

TEST_F(FleetTest, IdleExpiryThatDropsSilentlyIsFound) {
  IdleExpiryProfile(*fleet_, "drop");
  auto run = Audit(kIdlePlan, {"-o", "csv"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_EQ(ExpectOnly(run.out, "idle_hold", {{"z1", "z2"}}, "TIMEOUTx1",
                       "an idle timer expired and the path dropped the flow silently (Azure LB / "
                       "GCP firewall style)"),
            3 * 3);
  ExpectFindings("run-1", {{"idle_drop", {"zone z1 -> z2"}, {"idle_hold"}}});
}

// Idle-timeout discovery on two paths with different timers and behaviours: z1->z2 a 3 s
// conntrack timeout whose expiry resets the next packet, z1->z3 a 7 s one that drops
// silently; every other zone pair has none (up to the ladder's 12 s top).
TEST_F(FleetTest, IdleDiscoveryFindsEachPathsTimerAndBehaviour) {
  for (const std::string& cmd : {
           std::string("nft add table inet idle"),
           std::string("nft 'add ct timeout inet idle t3 { protocol tcp; l3proto ip; "
                       "policy = { established: 3 }; }'"),
           std::string("nft 'add ct timeout inet idle t7 { protocol tcp; l3proto ip; "
                       "policy = { established: 7 }; }'"),
           std::string("nft 'add chain inet idle pre { type filter hook prerouting priority "
                       "-150 ; }'"),
           std::string("nft add rule inet idle pre iifname br1 ip daddr 198.18.2.0/24 ct state "
                       "new ct timeout set t3"),
           std::string("nft add rule inet idle pre iifname br1 ip daddr 198.18.3.0/24 ct state "
                       "new ct timeout set t7"),
           std::string("nft 'add chain inet idle path { type filter hook forward priority 0 ; }'"),
           std::string("nft add rule inet idle path iifname br1 oifname br2 ct state invalid "
                       "reject with tcp reset"),
           std::string("nft add rule inet idle path iifname br2 oifname br1 ct state invalid "
                       "reject with tcp reset"),
           std::string("nft add rule inet idle path iifname br1 oifname br3 ct state invalid drop"),
           std::string("nft add rule inet idle path iifname br3 oifname br1 ct state invalid drop"),
           std::string("sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0"),
       }) {
    ASSERT_TRUE(fleet_->InRouter(cmd).ok()) << cmd;
  }
  auto started = Ctl({"run", "-f", Plan(R"(
name: idle timeouts
pattern: {kind: zone_representatives}
idle_discovery: {min_idle_ms: 1000, max_idle_ms: 12000, resolution_pct: 10}
)")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string run_id = started.out.substr(0, started.out.find('\n'));
  auto watch = Ctl({"watch", run_id});
  // Probes past a timer deviate: the audit's exit code says the paths change closures.
  EXPECT_EQ(watch.exit_code, 1) << watch.out << watch.err;
  auto json = Ctl({"report", run_id, "-o", "json"});
  ASSERT_EQ(json.exit_code, 1) << json.err;
  v1::Report report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &report).ok()) << json.out;
  ASSERT_EQ(report.idle_timeouts_size(), 6) << json.out;
  for (const v1::IdleTimeout& t : report.idle_timeouts()) {
    SCOPED_TRACE(t.ShortDebugString());
    const std::string zones = t.source_zone() + "->" + t.target_zone();
    EXPECT_LE(t.connections(), 32u);
    if (zones == "z1->z2" || zones == "z1->z3") {
      const double timer = zones == "z1->z2" ? 3000 : 7000;
      EXPECT_EQ(t.state(), v1::IDLE_SEARCH_FOUND);
      EXPECT_LT(t.lower_ms(), timer);
      EXPECT_GE(t.upper_ms(), timer);
      EXPECT_LE(t.plus_minus_ms(), 0.10 * t.estimate_ms());
      EXPECT_NEAR(t.estimate_ms(), timer, 0.10 * timer);
      EXPECT_EQ(t.expiry(), zones == "z1->z2" ? v1::IDLE_EXPIRY_RESET_NEXT_PACKET
                                              : v1::IDLE_EXPIRY_SILENT_DROP);
      EXPECT_EQ(t.non_monotonic(), 0u);
      EXPECT_NE(t.summary().find("shorter than RFC 5382 REQ-5's 7440 s"), std::string::npos);
    } else {
      EXPECT_EQ(t.state(), v1::IDLE_SEARCH_ABOVE_MAX);
      EXPECT_EQ(t.lower_ms(), 12000u);
      EXPECT_EQ(t.connections(), 8u);
    }
    EXPECT_EQ(t.inconclusive(), 0u);
  }
  auto table = Ctl({"report", run_id});
  std::cout << table.out;  // the operator's view, in the test log
  EXPECT_NE(table.out.find("IDLE TIMEOUTS (RFC 5382 REQ-5 asks NATs for at least 7440 s)"),
            std::string::npos)
      << table.out;
  auto html = Ctl({"report", run_id, "-o", "html"});
  EXPECT_EQ(Count(html.out, "<tr class=\"idle-short\">"), 2u);
  EXPECT_EQ(Count(html.out, "<tr class=\"idle-ok\">"), 4u);
  // To look at the page: RSTMESH_FLEET_HTML=/tmp/idle.html fleet_tests --gtest_filter=*Idle*
  if (const char* keep = getenv("RSTMESH_FLEET_HTML")) std::ofstream(keep) << html.out;
}

// The controller is killed (-9) while a discovery is refining: restarted on the same store,
// it replays each pair's search from the stored probes and finishes it.
TEST_F(FleetTest, IdleDiscoverySurvivesAControllerKilledMidSearch) {
  IdleExpiryProfile(*fleet_, "reject with tcp reset");  // 2 s on z1 -> z2
  auto started = Ctl({"run", "-f", Plan(R"(
name: idle timeouts, interrupted
pattern: {kind: zone_representatives}
idle_discovery: {min_idle_ms: 1000, max_idle_ms: 6000}
)")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string run_id = started.out.substr(0, started.out.find('\n'));
  // The ladder is 6 pairs x 8 probes; more tasks means a refinement round has begun.
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::Report report;
        auto json = Ctl({"report", run_id, "-o", "json"});
        return google::protobuf::util::JsonStringToMessage(json.out, &report).ok() &&
               report.status().total() > 48 && report.status().state() == "running";
      },
      seconds(30)))
      << "the search never reached a refinement round while running";
  absl::Status restarted = fleet_->KillAndRestartController();
  ASSERT_TRUE(restarted.ok()) << restarted;
  auto watch = Ctl({"watch", run_id});
  EXPECT_EQ(watch.exit_code, 1) << watch.out << watch.err;
  auto json = Ctl({"report", run_id, "-o", "json"});
  v1::Report report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &report).ok()) << json.out;
  EXPECT_EQ(report.status().done(), report.status().total());
  uint32_t connections = 0;
  for (const v1::IdleTimeout& t : report.idle_timeouts()) {
    SCOPED_TRACE(t.ShortDebugString());
    connections += t.connections();
    if (t.source_zone() == "z1" && t.target_zone() == "z2") {
      EXPECT_EQ(t.state(), v1::IDLE_SEARCH_FOUND);
      EXPECT_LT(t.lower_ms(), 2000u);
      EXPECT_GE(t.upper_ms(), 2000u);
      EXPECT_EQ(t.expiry(), v1::IDLE_EXPIRY_RESET_NEXT_PACKET);
    } else {
      EXPECT_EQ(t.state(), v1::IDLE_SEARCH_ABOVE_MAX);
    }
  }
  EXPECT_EQ(report.idle_timeouts_size(), 6);
  EXPECT_EQ(connections, report.status().total()) << "every stored probe belongs to a search";
}

// A middlebox on the way from z1 to z3 forges a RST once a flow it sees in its original
// direction has carried 200 kB back: the initiator's next ACK is answered with a forged RST;
// the responder, still sending, then meets the initiator's host, which no longer has the
// socket and answers with a real RST. Neither end sent a reset itself, and the report says
// the path forged it. idle_hold's connections, reset after their 1.5 s of idle, are the same
// forger's work, not an idle timer: graceful_close, which never idles, is reset too.
TEST_F(FleetTest, ForgedResetIsAttributedToThePath) {
  Profile(
      {"iifname br1 oifname br3 ct direction original ct reply bytes gt 200000 "
       "'tcp flags & rst == 0' reject with tcp reset"});
  auto run = Audit(R"(
name: reset injection z1->z3
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close, params: {response_bytes: 8000000}},
            {name: idle_hold, params: {idle_ms: 1500, response_bytes: 8000000}}]
limits: {concurrency_per_agent: 8}
)",
                   {"-o", "csv"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  int forged = 0;
  for (absl::string_view line : absl::StrSplit(run.out, '\n')) {
    std::vector<std::string> f = SplitCsv(line);
    if (f.size() < 12 || f[0] == "source") continue;
    if (f[0].substr(0, 2) == "z1" && f[1].substr(0, 2) == "z3") {
      EXPECT_EQ(f[10], "DEVIATION") << line;
      EXPECT_EQ(f[7], "RSTx1") << line;
      EXPECT_NE(f[11].find("the reset came from the path, not the peer: the initiator saw RST, "
                           "but the responder never sent one"),
                std::string::npos)
          << line;
      ++forged;
    } else {
      EXPECT_EQ(f[10], "PASS") << line;
    }
  }
  EXPECT_EQ(forged, 3 * 2 * 2);
  v1::Report report = ExpectFindings(
      "run-1", {{"forged_reset", {"zone z1 -> z3"}, {"graceful_close", "idle_hold"}}});
  // Who sent it, from the initiator's packets: the RST travelled 0 router hops, the peer's
  // segments 1; the TTL probe at that distance named the router's address on z1's side.
  ASSERT_EQ(report.findings_size(), 1);
  const v1::Finding& finding = report.findings(0);
  bool hop_evidence = false;
  for (const std::string& e : finding.evidence()) {
    if (e.find("the RST reached the initiator after 0 router hops (TTL 64") != std::string::npos &&
        e.find("own segments after 1 router hop (TTL 63): sent by the first router on the path "
               "(198.18.1.1), not by z3-h") != std::string::npos) {
      hop_evidence = true;
    }
  }
  EXPECT_TRUE(hop_evidence) << finding.ShortDebugString();
  // The task's packets as a pcap file, read back by tcpdump: the forged RST is in it.
  ASSERT_GT(finding.example_tasks_size(), 0);
  const std::string task = std::to_string(finding.example_tasks(0));
  auto pcap = Ctl({"evidence", "run-1", task});
  ASSERT_EQ(pcap.exit_code, 0) << pcap.err;
  const std::string file = absl::StrCat("/tmp/rstmesh-fleet-evidence-", getpid(), ".pcap");
  std::ofstream(file, std::ios::binary) << pcap.out;
  auto read = testing::RunProcess({"/usr/bin/tcpdump", "-nr", file});
  std::remove(file.c_str());
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_GE(Count(read.out, "Flags [S]"), 1u) << read.out;
  EXPECT_GE(Count(read.out, "Flags [R"), 1u) << read.out;
  EXPECT_NE(read.out.find("198.18.3."), std::string::npos) << read.out;
  // A task that passed kept no packets, and says why.
  auto none = Ctl({"evidence", "run-1", "4294967297"});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("has no packets"), std::string::npos) << none.err;
  // Both ends were hit: the responder's own account shows the genuine RST that followed.
  auto exported = Ctl({"export", "run-1"});
  int responder_resets = 0;
  for (absl::string_view line : absl::StrSplit(exported.out, '\n')) {
    if (line.find("\"role\":\"ROLE_RESPONDER\"") != absl::string_view::npos &&
        line.find("\"observed\":\"CLOSURE_RST\"") != absl::string_view::npos) {
      EXPECT_NE(line.find("\"action\":\"ACTION_NOTHING\""), absl::string_view::npos) << line;
      ++responder_resets;
    }
  }
  EXPECT_EQ(responder_resets, 3 * 2 * 2);
}

// A userspace proxy on the router for z1 -> z2 (DNAT to it, relayed to the original
// destination) that closes both directions on the first EOF and answers an upstream reset
// with a FIN, as many L4/L7 proxies do. half_close and abortive_close through it deviate
// with the catalogue's diagnoses; graceful_close through it, and every direct path, pass.
TEST_F(FleetTest, ProxyThatCollapsesHalfCloseAndTurnsResetsIntoFinIsFound) {
  ASSERT_TRUE(fleet_->StartInRouter({RSTMESH_FLEET_PROXY_BIN, "198.18.1.1", "9000"}).ok());
  for (const char* cmd : {
           "nft add table ip nat",
           "nft 'add chain ip nat pre { type nat hook prerouting priority -100 ; }'",
           "nft add rule ip nat pre iifname br1 ip daddr 198.18.2.0/24 tcp dport 7402 dnat to "
           "198.18.1.1:9000",
       }) {
    ASSERT_TRUE(fleet_->InRouter(cmd).ok()) << cmd;
  }
  auto run = Audit(R"(
name: proxy z1->z2
pattern: {kind: full_mesh}
scenarios: [{name: half_close}, {name: abortive_close}, {name: graceful_close}]
limits: {concurrency_per_agent: 8}
)",
                   {"-o", "csv"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  int half = 0, reset = 0;
  for (absl::string_view line : absl::StrSplit(run.out, '\n')) {
    std::vector<std::string> f = SplitCsv(line);
    if (f.size() < 12 || f[0] == "source") continue;
    const bool proxied = f[0].substr(0, 2) == "z1" && f[1].substr(0, 2) == "z2";
    if (proxied && f[2] == "half_close") {
      EXPECT_EQ(f[10], "DEVIATION") << line;
      EXPECT_EQ(f[11], "the path does not support half-close") << line;
      ++half;
    } else if (proxied && f[2] == "abortive_close") {
      EXPECT_EQ(f[10], "DEVIATION") << line;
      EXPECT_EQ(f[7], "FINx1") << line;
      EXPECT_EQ(f[11], "an L4/L7 proxy converts resets into FIN") << line;
      ++reset;
    } else {
      EXPECT_EQ(f[10], "PASS") << line;
    }
  }
  EXPECT_EQ(half, 3 * 3);
  EXPECT_EQ(reset, 3 * 3);
  // One device explains both: a proxy that closes with FIN collapses half-close too.
  ExpectFindings("run-1", {{"resets_to_fin", {"zone z1 -> z2"}, {"abortive_close", "half_close"}}});
}

// A peer host that reboots mid-test: z1-h1 and z2-h1 idle on their test connections; z2-h1's
// namespace is deleted and made again with the same address (its agent killed and started
// afresh). z1-h1's request after the idle period meets a host without the socket: RST. The
// report says the peer's host lost the connection, not the path; the reverse task, whose
// initiator died, is inconclusive.
TEST_F(FleetTest, PeerRebootMidTestIsFound) {
  size_t z2h1 = 0;
  while (fleet_->hosts()[z2h1].id != "z2-h1") ++z2h1;
  auto started = Ctl({"run", "-f", Plan(R"(
name: peer reboot
pattern: {kind: full_mesh}
selector: {agents: [z1-h1, z2-h1]}
scenarios: [{name: idle_hold, params: {idle_ms: 4000}}]
)")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string run_id = started.out.substr(0, started.out.find('\n'));
  // Both test connections are up (z2-h1 holds its responder side) before the reboot.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto ss = testing::RunProcess({"/bin/sh", "-c",
                                       "ip netns exec " + fleet_->hosts()[z2h1].netns +
                                           " ss -Htn state established '( sport = :7402 )'"});
        return Count(ss.out, "\n") >= 1;
      },
      seconds(10)));
  absl::Status rebooted = fleet_->RebootHost(z2h1);
  ASSERT_TRUE(rebooted.ok()) << rebooted;
  auto watch = Ctl({"watch", run_id});
  EXPECT_EQ(watch.exit_code, 1) << watch.out << watch.err;
  auto csv = Ctl({"report", run_id, "-o", "csv"});
  bool found = false;
  for (absl::string_view line : absl::StrSplit(csv.out, '\n')) {
    std::vector<std::string> f = SplitCsv(line);
    if (f.size() < 12 || f[0] == "source") continue;
    if (f[0] == "z1-h1") {
      EXPECT_EQ(f[10], "DEVIATION") << line;
      EXPECT_EQ(f[7], "RSTx1") << line;
      EXPECT_EQ(f[11],
                "the responder's host lost the connection mid-test (crashed and rebooted): the "
                "next segment met a host without the socket")
          << line;
      found = true;
    } else {
      EXPECT_EQ(f[10], "INCONCLUSIVE") << line;  // its initiator was the rebooted host
    }
  }
  EXPECT_TRUE(found) << csv.out;
  ExpectFindings(run_id, {{"host_lost_state",
                           {"z2-h1: the host lost its connections (crashed or rebooted)"},
                           {"idle_hold"}}});
}

// The same fleet with the agents testing each other over IPv6: dropped resets between z1
// and z2, and ICMPv6 administratively prohibited (EACCES at connect) from z1 to z3, found
// apart in one run.
class Fleet6Test : public FleetTest {
 protected:
  NetnsFleet::Family Family() const override { return NetnsFleet::Family::kIPv6; }
};

TEST_F(Fleet6Test, ResetsDroppedAndIcmpv6ProhibitedAreFoundApartOverIpv6) {
  EXPECT_EQ(Count(Ctl({"agents", "-o", "json"}).out, "\"data_endpoint\": \"[fd52:7374:"),
            fleet_->hosts().size());
  Profile({"iifname br1 oifname br2 'tcp flags & rst == rst' drop",
           "iifname br2 oifname br1 'tcp flags & rst == rst' drop",
           "iifname br1 oifname br3 meta nfproto ipv6 'tcp flags & (syn | ack) == syn' reject "
           "with icmpv6 type admin-prohibited"});
  auto run = Audit(R"(
name: ipv6 faults
pattern: {kind: full_mesh}
scenarios: [{name: abortive_close}, {name: graceful_close}, {name: refused}]
limits: {concurrency_per_agent: 8}
)");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  ExpectFindings(
      "run-1",
      {{"resets_dropped", {"zone z1 <-> z2"}, {"abortive_close", "refused"}},
       {"prohibited", {"zone z1 -> z3"}, {"abortive_close", "graceful_close", "refused"}}});
  auto exported = Ctl({"export", "run-1"});
  EXPECT_EQ(Count(exported.out, "\"error_number\":13"), 3u * 2 * 3) << "EACCES";
}

}  // namespace
}  // namespace rstmesh
