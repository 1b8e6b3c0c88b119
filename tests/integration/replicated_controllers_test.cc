// Replicated controllers: three rstmesh-controller --replicated processes on one real
// PostgreSQL 15 server, eight agents spread over them (each dials the replicas in its own
// order and takes the first that answers). What operators rely on: killing the replica that
// owns a run (twice), or one that only holds agents, or restarting all three one after the
// other, loses nothing and runs nothing twice: every task passes and every observation is
// stored exactly once.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process_fleet.h"
#include "tests/support/run_tally.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Count;
using testing::ParseTally;
using testing::ProcessFleet;
using testing::RunResult;
using testing::Tally;
using testing::WaitFor;

constexpr int kReplicas = 3;
constexpr int kAgents = 8;
// Two scenarios x 25 repetitions over the 56 ordered pairs of 8 agents, 200 ms between two
// tests of a pair: 2,800 tasks over about 10 s.
constexpr long kTasks = 2800;
constexpr const char* kPlan = R"(
name: replicated
pattern: {kind: full_mesh}
scenarios:
  - {name: graceful_close, repetitions: 25}
  - {name: abortive_close, repetitions: 25}
limits: {pair_spacing_ms: 200}
)";

class ReplicatedControllersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(postgres_.Start()) << postgres_.error();
    fleet_.UseStore(postgres_.dsn());
    for (int r = 1; r <= kReplicas; ++r) ASSERT_TRUE(StartReplica(r));
    // Agent i dials replica (i mod 3) + 1 first: the agents are spread over all three.
    for (int i = 1; i <= kAgents; ++i) {
      ASSERT_TRUE(fleet_.StartAgent(i, i % 2 ? "a" : "b", {}, fleet_.ReplicaTarget(i % 3 + 1)));
    }
    // Every replica sees all eight, wherever their streams are.
    for (int r = 1; r <= kReplicas; ++r) {
      ASSERT_TRUE(WaitFor(
          [&] {
            RunResult agents = fleet_.CtlAt(r, {"agents", "-o", "json"});
            return Count(agents.out, "\"connected\": true") == kAgents;
          },
          seconds(30), milliseconds(250)))
          << "replica r" << r << " does not see every agent: " << fleet_.CtlAt(r, {"agents"}).out;
    }
  }

  ::testing::AssertionResult StartReplica(int r) {
    // Short leases and agent timeouts: take-overs within seconds.
    return fleet_.StartReplica(r, {"--run-lease-ms", "3000", "--agent-timeout-ms", "3000"});
  }

  // The run's line at any replica that answers (one may be down).
  Tally Status(const std::string& run_id) {
    for (int r = 1; r <= kReplicas; ++r) {
      RunResult runs = fleet_.CtlAt(r, {"runs"}, seconds(20));
      if (runs.exit_code != 0) continue;
      for (absl::string_view line : absl::StrSplit(runs.out, '\n')) {
        if (absl::StartsWith(line, run_id + " ")) return ParseTally(std::string(line));
      }
    }
    return {};
  }
  // The replica (1..3) that owns the run now, 0 if none does.
  int Owner(const std::string& run_id) {
    int owner = 0;
    WaitFor(
        [&] {
          const std::string id = Status(run_id).owner;
          for (int r = 1; r <= kReplicas; ++r) {
            if (absl::StartsWith(id, "r" + std::to_string(r) + "-")) owner = r;
          }
          return owner != 0;
        },
        seconds(20), milliseconds(250));
    return owner;
  }
  bool WaitDone(const std::string& run_id, long at_least) {
    return WaitFor([&] { return Status(run_id).done >= at_least; }, seconds(90), milliseconds(250));
  }
  std::string Start(int via) {
    RunResult r = fleet_.CtlAt(via, {"run", "-f", fleet_.WritePlan("plan.yaml", kPlan)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  // The run finished with every task passing, each ran once (the responders answered one
  // test per task between them) and its observations are stored once each.
  void ExpectEveryTaskPassedOnce(const std::string& run_id) {
    Tally t;
    WaitFor(
        [&] {
          t = Status(run_id);
          return t.state == "finished";
        },
        seconds(180), milliseconds(500));
    ASSERT_EQ(t.state, "finished") << fleet_.CtlAt(1, {"runs"}).out;
    EXPECT_EQ(t.total, kTasks);
    EXPECT_EQ(t.pass, kTasks) << "deviation " << t.deviation << ", inconclusive " << t.inconclusive;
    for (int r = 1; r <= kReplicas; ++r) {
      RunResult exported = fleet_.CtlAt(r, {"export", run_id}, seconds(60));
      EXPECT_EQ(exported.exit_code, 0) << exported.err;
      EXPECT_EQ(Count(exported.out, "\n"), static_cast<size_t>(2 * kTasks)) << "via r" << r;
    }
    long answered = 0;
    for (int i = 1; i <= kAgents; ++i) {
      EXPECT_EQ(fleet_.StopAgent(i), 0) << fleet_.agent(i).err();
      const long n = ProcessFleet::Completed(fleet_.agent(i));
      EXPECT_GE(n, 0) << fleet_.agent(i).out();
      answered += n;
    }
    EXPECT_EQ(answered, kTasks);
  }

  testing::PostgresServer postgres_;
  ProcessFleet fleet_;
};

TEST_F(ReplicatedControllersTest, OwnerKilledTwiceAndAnAgentsOnlyReplicaKilledLoseNothing) {
  const std::string run_id = Start(1);
  ASSERT_FALSE(run_id.empty());
  // Twice: the replica that owns the run dies; another takes it over within the lease and
  // the killed one comes back (as a Deployment would bring it back).
  for (long done : {400L, 1000L}) {
    ASSERT_TRUE(WaitDone(run_id, done));
    const int owner = Owner(run_id);
    ASSERT_NE(owner, 0) << fleet_.CtlAt(1, {"runs"}).out;
    EXPECT_EQ(fleet_.StopReplica(owner, SIGKILL), 128 + SIGKILL);
    ASSERT_TRUE(WaitFor(
        [&] {
          const int now = Owner(run_id);
          return now != 0 && now != owner;
        },
        seconds(30), milliseconds(250)))
        << "nobody took " << run_id << " over from r" << owner;
    ASSERT_TRUE(StartReplica(owner));
  }
  // A replica that holds agents and no run.
  ASSERT_TRUE(WaitDone(run_id, 1600));
  const int owner = Owner(run_id);
  int bystander = 1;
  while (bystander == owner) ++bystander;
  EXPECT_EQ(fleet_.StopReplica(bystander, SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(StartReplica(bystander));
  ExpectEveryTaskPassedOnce(run_id);
}

TEST_F(ReplicatedControllersTest, RollingRestartOfEveryReplicaLosesNothing) {
  const std::string run_id = Start(2);
  ASSERT_FALSE(run_id.empty());
  long done = 300;
  for (int r = 1; r <= kReplicas; ++r) {
    ASSERT_TRUE(WaitDone(run_id, done));
    // SIGTERM: the replica hands its runs and agents over, then a new process takes its
    // place (a RollingUpdate with maxUnavailable 1).
    EXPECT_EQ(fleet_.StopReplica(r), 0) << fleet_.replica(r).err();
    ASSERT_TRUE(StartReplica(r));
    done += 500;
  }
  ExpectEveryTaskPassedOnce(run_id);
}

// The times (ms since the epoch) the audits of `plan` were started at, oldest first, as
// replica r lists them.
std::vector<int64_t> AuditStarts(ProcessFleet& fleet, int r, const std::string& plan) {
  RunResult runs = fleet.CtlAt(r, {"runs", "-o", "json"});
  std::vector<int64_t> starts;
  const std::regex run(R"re("plan_name": "([^"]*)"[^}]*"created_unix_ms": "(\d+)")re");
  for (auto it = std::sregex_iterator(runs.out.begin(), runs.out.end(), run);
       it != std::sregex_iterator(); ++it) {
    if ((*it)[1] == plan) starts.push_back(std::stoll((*it)[2]));
  }
  std::sort(starts.begin(), starts.end());
  return starts;
}

// Continuous audits among replicas: a schedule put through one replica is run by one replica
// at a time, each due audit once, and goes on when a replica dies.
TEST_F(ReplicatedControllersTest, ScheduledAuditsStartOnceEachWhicheverReplicaTheyWerePutAt) {
  const std::string plan = fleet_.WritePlan("continuous.yaml", R"(
name: continuous
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close, repetitions: 1}]
schedule: {every: 2s, keep_runs: 50}
)");
  RunResult scheduled = fleet_.CtlAt(3, {"schedule", "-f", plan});
  ASSERT_EQ(scheduled.exit_code, 0) << scheduled.out << scheduled.err;
  // Every replica lists it (they read the schedules every 10 s).
  for (int r = 1; r <= kReplicas; ++r) {
    EXPECT_TRUE(WaitFor(
        [&] { return fleet_.CtlAt(r, {"schedules"}).out.find("continuous") != std::string::npos; },
        seconds(20), milliseconds(500)))
        << "r" << r;
  }
  ASSERT_TRUE(WaitFor([&] { return AuditStarts(fleet_, 1, "continuous").size() >= 3; }, seconds(40),
                      milliseconds(500)));
  // The replica started first (which took the audit lock first) dies; another takes over.
  EXPECT_EQ(fleet_.StopReplica(1, SIGKILL), 128 + SIGKILL);
  const size_t before = AuditStarts(fleet_, 2, "continuous").size();
  ASSERT_TRUE(WaitFor([&] { return AuditStarts(fleet_, 2, "continuous").size() >= before + 2; },
                      seconds(40), milliseconds(500)));
  ASSERT_TRUE(StartReplica(1));
  const std::vector<int64_t> starts = AuditStarts(fleet_, 2, "continuous");
  // One audit per due time: no two started together (they are 2 s apart).
  for (size_t i = 1; i < starts.size(); ++i) {
    EXPECT_GE(starts[i] - starts[i - 1], 1000) << "audits " << i - 1 << " and " << i;
  }
  EXPECT_EQ(fleet_.CtlAt(2, {"unschedule", "continuous"}).exit_code, 0);
}

// A controller on its own and replicas do not share a database: whichever came second is
// refused and says why.
TEST(ReplicatedControllersRefusalTest, SingleControllerAndReplicasDoNotShareADatabase) {
  testing::PostgresServer postgres;
  ASSERT_TRUE(postgres.Start()) << postgres.error();
  ProcessFleet fleet;
  fleet.UseStore(postgres.dsn());
  ASSERT_TRUE(fleet.StartReplica(1));
  RunResult single =
      testing::RunProcess({RSTMESH_CONTROLLER_BIN, "--insecure", "--listen", "127.0.0.1:0",
                           "--metrics-listen", "127.0.0.1:0", "--store", postgres.dsn()},
                          seconds(20));
  EXPECT_EQ(single.exit_code, 2);
  EXPECT_NE(single.err.find("another rstmesh-controller is using this database"), std::string::npos)
      << single.err;
  RunResult no_database = testing::RunProcess(
      {RSTMESH_CONTROLLER_BIN, "--insecure", "--listen", "127.0.0.1:0", "--replicated"},
      seconds(20));
  EXPECT_EQ(no_database.exit_code, 2);
  EXPECT_NE(no_database.err.find("--replicated: replicas share a PostgreSQL database"),
            std::string::npos)
      << no_database.err;
  EXPECT_EQ(fleet.CtlAt(1, {"runs"}).exit_code, 0) << "the replica stopped serving";
}

}  // namespace
}  // namespace rstmesh
