// The run engine under the faults a fleet sees every day, with real processes on loopback:
// the controller<->agent link cut (FIN, RST, a silent partition), an agent restarted under
// the same id, a responder whose host hangs, a second controller on the same data
// directory, and a corrupted store. What users rely on: a blip is not a loss, nothing runs
// twice, a hung host is not a network finding, and a store is never served by two
// controllers or served damaged.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "tests/support/http_get.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process_fleet.h"
#include "tests/support/run_tally.h"
#include "tests/support/tcp_relay.h"
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
using testing::TcpRelay;
using testing::WaitFor;

// Two scenarios x 100 repetitions over the 6 ordered pairs of 3 agents, paced so that the
// run lasts several seconds: 1,200 tasks, each with a responder.
constexpr const char* kPacedPlan = R"(
name: paced
pattern: {kind: full_mesh}
scenarios:
  - {name: graceful_close, repetitions: 100}
  - {name: abortive_close, repetitions: 100}
limits: {pair_spacing_ms: 20}
)";

class RunEngineFaultsTest : public ::testing::Test {
 protected:
  // Starts a run without waiting; its id.
  std::string Start(const std::string& plan) {
    RunResult r = fleet_.Ctl({"run", "-f", fleet_.WritePlan("plan.yaml", plan)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }
  // The run's line in `rstmeshctl runs`.
  Tally Status(const std::string& run_id) {
    RunResult r = fleet_.Ctl({"runs"});
    for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
      if (absl::StartsWith(line, run_id + " ")) return ParseTally(std::string(line));
    }
    return {};
  }
  bool WaitDone(const std::string& run_id, long at_least) {
    return WaitFor([&] { return Status(run_id).done >= at_least; }, seconds(60), milliseconds(100));
  }
  Tally WaitFinished(const std::string& run_id, seconds timeout = seconds(150)) {
    Tally t;
    WaitFor(
        [&] {
          t = Status(run_id);
          return t.state == "finished";
        },
        timeout, milliseconds(250));
    return t;
  }
  // Stops the agents and sums the tests each answered as responder.
  long ResponderTests(std::initializer_list<int> agents) {
    long sum = 0;
    for (int i : agents) {
      EXPECT_EQ(fleet_.StopAgent(i), 0) << fleet_.agent(i).err();
      const long n = ProcessFleet::Completed(fleet_.agent(i));
      EXPECT_GE(n, 0) << fleet_.agent(i).out();
      sum += n;
    }
    return sum;
  }

  // The paced run finished with every task passing and ran exactly once: the store holds
  // one observation per task and role, and the responders answered 1,200 tests between
  // them (stops the agents).
  void ExpectEveryTaskPassedOnce(const std::string& run_id) {
    const Tally t = WaitFinished(run_id);
    ASSERT_EQ(t.state, "finished") << fleet_.Ctl({"runs"}).out;
    EXPECT_EQ(t.total, 1200);
    EXPECT_EQ(t.pass, 1200) << "deviation " << t.deviation << ", inconclusive " << t.inconclusive;
    RunResult exported = fleet_.Ctl({"export", run_id});
    EXPECT_EQ(Count(exported.out, "\n"), 2400u);
    EXPECT_EQ(ResponderTests({1, 2, 3}), 1200);
  }

  // The link between the controller and every agent is cut mid-run and restored; the
  // agents reconnect through the same relay. Every task passes, each ran exactly once.
  void CutMidRun(TcpRelay::Cut cut, milliseconds length) {
    ASSERT_TRUE(fleet_.StartController({"--agent-timeout-ms", "3000"}));
    const int port = std::stoi(fleet_.address().substr(fleet_.address().rfind(':') + 1));
    TcpRelay relay("127.0.0.1", port);
    ASSERT_TRUE(relay.ok());
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(fleet_.StartAgent(i, "a", {}, relay.address()));
    ASSERT_TRUE(fleet_.WaitForAgents(3));
    const std::string run_id = Start(kPacedPlan);
    ASSERT_TRUE(WaitDone(run_id, 150));
    relay.StartCut(cut);
    std::this_thread::sleep_for(length);  // the fault's length, not a wait for a condition
    // The controller saw them go (a stream that ended, or silence past --agent-timeout-ms),
    // but within the lease they are still members: listed, their tasks kept.
    RunResult agents = fleet_.Ctl({"agents"});
    EXPECT_NE(agents.out.find("3 agents"), std::string::npos) << agents.out;
    EXPECT_EQ(Count(agents.out, " disconnected "), 3u) << agents.out;
    EXPECT_EQ(Status(run_id).state, "running");
    relay.Restore();
    // After a FIN or RST they dialled again; a silent partition shorter than gRPC's
    // keepalive leaves the TCP connection, and the streams reopen on it.
    if (cut != TcpRelay::Cut::kSilent) {
      EXPECT_GT(relay.accepted(), 3u);
    }
    ExpectEveryTaskPassedOnce(run_id);
  }

  ProcessFleet fleet_;
};

TEST_F(RunEngineFaultsTest, OneSecondCutWithFinLosesNothingAndRunsNothingTwice) {
  CutMidRun(TcpRelay::Cut::kFin, seconds(1));
}

TEST_F(RunEngineFaultsTest, OneSecondCutWithRstLosesNothingAndRunsNothingTwice) {
  CutMidRun(TcpRelay::Cut::kRst, seconds(1));
}

TEST_F(RunEngineFaultsTest, TenSecondSilentPartitionLosesNothingAndRunsNothingTwice) {
  CutMidRun(TcpRelay::Cut::kSilent, seconds(10));
}

// An agent killed and started again under the same id: the tests its old process had under
// way are inconclusive, its remaining tasks run on the new process, nothing deviates.
TEST_F(RunEngineFaultsTest, AgentRestartedWithTheSameIdRunsItsRemainingTasks) {
  ASSERT_TRUE(fleet_.StartController());
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(fleet_.StartAgent(i));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  const std::string run_id = Start(kPacedPlan);
  ASSERT_TRUE(WaitDone(run_id, 200));
  EXPECT_EQ(fleet_.StopAgent(2, SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(fleet_.StartAgent(2));
  const Tally t = WaitFinished(run_id);
  ASSERT_EQ(t.state, "finished") << fleet_.Ctl({"runs"}).out;
  EXPECT_EQ(t.deviation, 0) << fleet_.Ctl({"report", run_id}).out;
  // Only what was under way at the kill: node-2 initiates at most 4 at once and answers
  // the other two's at most 8, plus the observations it had not sent yet (50 ms worth).
  EXPECT_LE(t.inconclusive, 40);
  EXPECT_GE(t.pass, 1200 - 40);
  // The new process answered tests of its own.
  EXPECT_EQ(fleet_.StopAgent(2), 0);
  EXPECT_GT(ProcessFleet::Completed(fleet_.agent(2)), 0) << fleet_.agent(2).out();
}

// Cancel: every agent stops its schedule at once. Measured over a window: had they gone on,
// the paced run would have started about 300 tests a second (600 observations).
TEST_F(RunEngineFaultsTest, CancelStopsEveryAgentsScheduleWithinASecond) {
  ASSERT_TRUE(fleet_.StartController());
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(fleet_.StartAgent(i));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  const std::string run_id = Start(kPacedPlan);
  ASSERT_TRUE(WaitDone(run_id, 150));
  RunResult cancel = fleet_.Ctl({"cancel", run_id});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  auto stored = [&] { return Count(fleet_.Ctl({"export", run_id}).out, "\n"); };
  const long at_cancel = stored();
  std::this_thread::sleep_for(seconds(2));  // the window, not a synchronisation
  const long after = stored();
  // Only what was under way or not yet sent at the cancel: 4 tests per initiator (2
  // observations each) and a batch interval's worth.
  EXPECT_LE(after - at_cancel, 80)
      << "agents went on with a cancelled run: " << at_cancel << " -> " << after;
  EXPECT_LT(after, 2 * 1200);
  // Each agent's responder answered only those tests (this stops the agents).
  EXPECT_LE(ResponderTests({1, 2, 3}), after / 2 + 24);
  // Stopped by the cancel itself (each agent says what it did not start), not only by the
  // revoked key, which would have made their tests fail instead.
  for (int i = 1; i <= 3; ++i) {
    EXPECT_NE(fleet_.agent(i).err().find(run_id + " cancelled by the controller: "),
              std::string::npos)
        << fleet_.agent(i).err();
  }
}

// A responder whose host hangs (SIGSTOP: its kernel still accepts connections, nothing
// answers) mid-run: the tests aimed at it are INCONCLUSIVE with that reason, never a path
// finding; after it resumes the run finishes.
TEST_F(RunEngineFaultsTest, HungResponderIsInconclusiveNotAFinding) {
  ASSERT_TRUE(fleet_.StartController({"--agent-timeout-ms", "2000"}));
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(fleet_.StartAgent(i));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  const std::string run_id = Start(R"(
name: hang
pattern: {kind: full_mesh}
scenarios:
  - {name: abortive_close, repetitions: 60}
limits: {pair_spacing_ms: 50}
)");
  ASSERT_TRUE(WaitDone(run_id, 60));
  fleet_.agent(3).Signal(SIGSTOP);
  // Long enough for the tests aimed at it to time out (5 s per step) and for its silence
  // to show, short of its lease.
  std::this_thread::sleep_for(seconds(15));
  fleet_.agent(3).Signal(SIGCONT);
  const Tally t = WaitFinished(run_id);
  ASSERT_EQ(t.state, "finished") << fleet_.Ctl({"runs"}).out;
  EXPECT_EQ(t.deviation, 0) << fleet_.Ctl({"report", run_id}).out;
  EXPECT_GT(t.inconclusive, 0);
  // Only the tests under way at the freeze or answered right after the thaw: each of the
  // other two initiates at most 4 at once before node-3 is seen silent (2 s), node-3 at
  // most 4 of its own.
  EXPECT_LE(t.inconclusive, 30) << "the freeze made healthy tests inconclusive too"
                                << fleet_.Ctl({"report", run_id, "-o", "wide"}).out;
  // No path finding; the report says the audit is incomplete and names the hung host.
  RunResult table = fleet_.Ctl({"report", run_id});
  EXPECT_EQ(table.exit_code, 4) << table.out;
  EXPECT_NE(table.out.find("FINDINGS\n  none among the judged tasks, but "), std::string::npos)
      << table.out;
  EXPECT_EQ(table.out.find("none: every path"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("frozen around the test (host hung)\n      agents: node-3 ("),
            std::string::npos)
      << table.out;
  // The cells say why: its late answers are marked by its own clock ("was frozen for
  // 15.0 s"), tests it never answered by its silence.
  RunResult wide = fleet_.Ctl({"report", run_id, "-o", "wide"});
  EXPECT_NE(wide.out.find("INCONCLUSIVE: the responder's agent (node-3) was "), std::string::npos)
      << wide.out;
  EXPECT_NE(wide.out.find("not judged as a path finding"), std::string::npos);
}

// The controller killed with SIGKILL three times mid-run and started again on the same data
// directory and address: the run finishes, every task passes, every observation is stored
// once, and the agents (which kept running) answered each test once.
TEST_F(RunEngineFaultsTest, ControllerKilledThreeTimesMidRunStoresAndRunsEverythingOnce) {
  ASSERT_TRUE(fleet_.StartController());
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(fleet_.StartAgent(i));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  const std::string run_id = Start(kPacedPlan);
  for (long done : {150, 450, 750}) {
    ASSERT_TRUE(WaitDone(run_id, done));
    ASSERT_EQ(fleet_.StopController(SIGKILL), 128 + SIGKILL);
    ASSERT_TRUE(fleet_.StartController({}, fleet_.address()));
    ASSERT_TRUE(fleet_.WaitForAgents(3));
  }
  ExpectEveryTaskPassedOnce(run_id);
}

// The same on a PostgreSQL store, with the database server restarted in the middle (a blip:
// every connection dropped): the controller killed twice mid-run and the database gone for a
// moment lose nothing and run nothing twice.
TEST_F(RunEngineFaultsTest, ControllerKilledAndDatabaseRestartedMidRunOnPostgresql) {
  testing::PostgresServer postgres;
  ASSERT_TRUE(postgres.Start()) << postgres.error();
  fleet_.UseStore(postgres.dsn());
  ASSERT_TRUE(fleet_.StartController());
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(fleet_.StartAgent(i));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  const std::string run_id = Start(kPacedPlan);
  ASSERT_TRUE(WaitDone(run_id, 150));
  ASSERT_EQ(fleet_.StopController(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(fleet_.StartController({}, fleet_.address()));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  ASSERT_TRUE(WaitDone(run_id, 450));
  ASSERT_TRUE(postgres.Restart()) << postgres.error();
  ASSERT_TRUE(WaitDone(run_id, 750));
  ASSERT_EQ(fleet_.StopController(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(fleet_.StartController({}, fleet_.address()));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  ExpectEveryTaskPassedOnce(run_id);
  EXPECT_EQ(fleet_.StopController(), 0) << fleet_.controller().err();
}

// One controller per PostgreSQL database (until replicas share one): a second one on it
// refuses to start and says why; the first keeps serving; kill -9 leaves no stale lock.
TEST_F(RunEngineFaultsTest, SecondControllerOnTheSameDatabaseIsRefused) {
  testing::PostgresServer postgres;
  ASSERT_TRUE(postgres.Start()) << postgres.error();
  fleet_.UseStore(postgres.dsn());
  ASSERT_TRUE(fleet_.StartController());
  RunResult second =
      testing::RunProcess({RSTMESH_CONTROLLER_BIN, "--insecure", "--listen", "127.0.0.1:0",
                           "--metrics-listen", "127.0.0.1:0", "--store", postgres.dsn()},
                          seconds(20));
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.err.find("another rstmesh-controller is using this database"), std::string::npos)
      << second.err;
  EXPECT_EQ(fleet_.Ctl({"runs"}).exit_code, 0) << "the first stopped serving";
  EXPECT_EQ(fleet_.StopController(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return fleet_.StartController(); }, seconds(10), milliseconds(200)));
  EXPECT_EQ(fleet_.Ctl({"runs"}).exit_code, 0);
  EXPECT_EQ(fleet_.StopController(), 0);
}

// One controller per store: a second one on the same data directory refuses to start and
// names the holder; the first keeps serving. kill -9 leaves no stale lock.
TEST_F(RunEngineFaultsTest, SecondControllerOnTheSameDataDirectoryIsRefused) {
  ASSERT_TRUE(fleet_.StartController());
  RunResult second =
      testing::RunProcess({RSTMESH_CONTROLLER_BIN, "--insecure", "--listen", "127.0.0.1:0",
                           "--metrics-listen", "127.0.0.1:0", "--data-dir", fleet_.data_dir()},
                          seconds(20));
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.err.find("is in use by another rstmesh-controller (pid " +
                            std::to_string(fleet_.controller().pid())),
            std::string::npos)
      << second.err;
  EXPECT_EQ(fleet_.Ctl({"runs"}).exit_code, 0) << "the first stopped serving";
  EXPECT_EQ(fleet_.StopController(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(fleet_.StartController());
  EXPECT_EQ(fleet_.Ctl({"runs"}).exit_code, 0);
}

// A store with 16 KiB of random bytes in its middle is refused with a clear message, not
// served as an empty one, and is left as it was for the operator.
TEST_F(RunEngineFaultsTest, CorruptedStoreIsRefused) {
  ASSERT_TRUE(fleet_.StartController());
  for (int i = 1; i <= 2; ++i) ASSERT_TRUE(fleet_.StartAgent(i));
  ASSERT_TRUE(fleet_.WaitForAgents(2));
  RunResult run = fleet_.Ctl({"run", "--wait", "-f",
                              fleet_.WritePlan("p.yaml",
                                               "pattern: {kind: full_mesh}\n"
                                               "scenarios: [{name: S1, repetitions: 300}]\n")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_EQ(fleet_.StopController(), 0);
  const std::string db = fleet_.data_dir() + "/rstmesh.db";
  const auto size = std::filesystem::file_size(db);
  ASSERT_GT(size, 64u * 1024) << "too small a store to damage in the middle";
  std::string noise(16 * 1024, '\0');
  std::mt19937 rng(7);
  for (char& c : noise) c = static_cast<char>(rng());
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    f.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  }
  RunResult refused =
      testing::RunProcess({RSTMESH_CONTROLLER_BIN, "--insecure", "--listen", "127.0.0.1:0",
                           "--metrics-listen", "127.0.0.1:0", "--data-dir", fleet_.data_dir()},
                          seconds(20));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find(db + " is corrupted"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("restore it from a backup"), std::string::npos) << refused.err;
  EXPECT_EQ(std::filesystem::file_size(db), size) << "the damaged store was changed";
}

// A small tmpfs as the data directory (root only). A mount this test made and removes,
// also when it fails.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& path, const std::string& size) : path_(path) {
    std::filesystem::create_directories(path);
    mounted_ = mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~TmpfsMount() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

// Fills the file system holding `path` with one file; how many bytes it took.
size_t FillUp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::setvbuf(f, nullptr, _IONBF, 0);
  const std::string block(64 * 1024, 'x');
  size_t written = 0;
  for (;;) {
    const size_t n = std::fwrite(block.data(), 1, block.size(), f);
    written += n;
    if (n < block.size()) break;
  }
  std::fclose(f);
  return written;
}

// The data directory fills up mid-run: the controller says so (log, /metrics, the run's
// status), the run pauses and agents hold their observations; once space is freed every
// observation is stored exactly once and every task passes.
TEST_F(RunEngineFaultsTest, FullDiskIsLoudAndLosesNothingOnceSpaceIsFreed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  TmpfsMount disk(fleet_.data_dir(), "8m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  ASSERT_TRUE(fleet_.StartController());
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(fleet_.StartAgent(i));
  ASSERT_TRUE(fleet_.WaitForAgents(3));
  const std::string run_id = Start(kPacedPlan);
  ASSERT_TRUE(WaitDone(run_id, 150));
  const std::string filler = fleet_.data_dir() + "/filler";
  ASSERT_GT(FillUp(filler), 0u);
  // Loud: the run's status names the cause, /metrics counts it.
  std::string runs;
  EXPECT_TRUE(WaitFor(
      [&] {
        runs = fleet_.Ctl({"runs"}).out;
        const size_t error = runs.find("; STORE ERROR: store: ");
        return error != std::string::npos &&
               runs.find("database or disk is full", error) != std::string::npos;
      },
      seconds(30), milliseconds(250)))
      << runs;
  const std::string metrics = testing::HttpGet(fleet_.metrics_port(), "/metrics");
  EXPECT_NE(metrics.find("rstmesh_store_failing 1\n"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("rstmesh_store_errors_total 0\n"), std::string::npos) << metrics;
  const long paused_at = Status(run_id).done;
  std::this_thread::sleep_for(seconds(3));  // the fault's length
  EXPECT_LE(Status(run_id).done, paused_at + 30) << "the run went on without its store";
  std::filesystem::remove(filler);
  ExpectEveryTaskPassedOnce(run_id);
  EXPECT_NE(testing::HttpGet(fleet_.metrics_port(), "/metrics").find("rstmesh_store_failing 0\n"),
            std::string::npos);
  EXPECT_EQ(fleet_.StopController(), 0);
  // Logged once with its cause (not once per batch), and its end.
  EXPECT_EQ(Count(fleet_.controller().err(), "database or disk is full"), 1u)
      << fleet_.controller().err();
  EXPECT_NE(fleet_.controller().err().find("store: writing again"), std::string::npos);
}

}  // namespace
}  // namespace rstmesh
