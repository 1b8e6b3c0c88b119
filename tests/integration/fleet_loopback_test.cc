// A controller and three agents on loopback (127.0.0.11-13), all real: gRPC on port 0,
// data planes on real sockets, SQLite in a temporary directory. A full-mesh run of every
// scenario completes with every cell PASS, and the stored observations are tasks x roles.
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/agent.h"
#include "agent/process_limits.h"
#include "controller/controller.h"
#include "controller/plan_parser.h"
#include "core/socket_look.h"
#include "tests/support/local_controller.h"
#include "tests/support/plans.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::WaitFor;

class FleetLoopbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RaiseFileLimit();
    ASSERT_TRUE(controller_.Start());
    for (int i = 1; i <= 3; ++i) {
      AgentOptions a;
      a.id = "node-" + std::to_string(i);
      a.labels = {{"zone", i == 3 ? "b" : "a"}};
      a.controller = controller_.address();
      a.responder.listen = asio::ip::make_address("127.0.0." + std::to_string(10 + i));
      a.responder.data_port = 0;
      a.responder.closed_port = 0;
      agents_.push_back(std::make_unique<Agent>(a));
      ASSERT_TRUE(agents_.back()->Start().ok());
    }
    ASSERT_TRUE(WaitFor([&] { return controller_->registry().Agents().size() == 3; }, seconds(10)));
  }
  void TearDown() override {
    agents_.clear();
    controller_.Stop();
  }

  testing::LocalController controller_;
  std::vector<std::unique_ptr<Agent>> agents_;
};

TEST_F(FleetLoopbackTest, FullMeshOfEveryScenarioPasses) {
  auto plan = ParsePlan("name: loopback\npattern: {kind: full_mesh}\n" +
                        testing::EveryScenarioYaml(2) + "limits: {concurrency_per_agent: 4}\n");
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto run_id = controller_->runs().StartRun(*plan);
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  const uint64_t scenarios = testing::ScenarioCount();
  const uint64_t tasks = 6 * scenarios * 2;  // 6 ordered pairs x every scenario x 2
  ASSERT_TRUE(WaitFor(
      [&] {
        auto p = controller_->runs().Progress(*run_id);
        return p.ok() && p->state == RunState::kFinished;
      },
      seconds(120)))
      << controller_->runs().Progress(*run_id)->done;
  auto report = controller_->runs().Report(*run_id, {.include_tasks = true});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->progress.total, tasks);
  EXPECT_EQ(report->tasks.size(), tasks);
  const bool repair = TcpRepairPermitted();
  EXPECT_EQ(report->progress.deviation, 0u);
  EXPECT_EQ(report->progress.pass, repair ? tasks : tasks - 12);
  for (const v1::TaskResult& r : report->tasks) {
    if (r.verdict() != v1::VERDICT_PASS && repair) ADD_FAILURE() << r.ShortDebugString();
  }
  ASSERT_EQ(report->cells.size(), 6u * scenarios);
  for (const v1::Cell& cell : report->cells) {
    EXPECT_EQ(cell.tasks(), 2u);
    if (repair) {
      EXPECT_EQ(cell.verdict(), v1::VERDICT_PASS) << cell.ShortDebugString();
    }
  }
  // Zone roll-up: a->a, a->b, b->a per scenario.
  EXPECT_EQ(report->zone_cells.size(), 3u * scenarios);
  // Stored exactly: every task's initiator, and the responder of all but refused.
  auto stored = controller_->store().GetObservations(*run_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), tasks + (tasks - 12));
}

TEST_F(FleetLoopbackTest, InvalidPlanIsRefusedAndNothingRuns) {
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_RING);
  plan.add_scenarios()->set_name("nope");
  auto run_id = controller_->runs().StartRun(plan);
  EXPECT_EQ(run_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(run_id.status().message().find("scenarios[0].name"), absl::string_view::npos);
  EXPECT_TRUE(controller_->store().ListRuns()->empty());
}

TEST_F(FleetLoopbackTest, AgentKilledMidRunEndsItsTasksAsAgentLost) {
  auto plan = ParsePlan(R"(
pattern: {kind: full_mesh}
scenarios: [{name: idle_hold, repetitions: 5, params: {idle_ms: 300}}]
limits: {concurrency_per_agent: 1}
)");
  ASSERT_TRUE(plan.ok());
  auto run_id = controller_->runs().StartRun(*plan);
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  ASSERT_TRUE(
      WaitFor([&] { return controller_->runs().Progress(*run_id)->done >= 2; }, seconds(30)));
  agents_[2].reset();  // node-3 goes away mid-run
  ASSERT_TRUE(
      WaitFor([&] { return controller_->runs().Progress(*run_id)->state == RunState::kFinished; },
              seconds(60)));
  auto report = controller_->runs().Report(*run_id, {.include_tasks = true});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->tasks.size(), 30u);
  int lost = 0;
  for (const v1::TaskResult& r : report->tasks) {
    if (r.outcome() == v1::OUTCOME_AGENT_LOST) {
      ++lost;
      EXPECT_TRUE(r.source() == "node-3" || r.target() == "node-3") << r.ShortDebugString();
      EXPECT_EQ(r.verdict(), v1::VERDICT_INCONCLUSIVE);
    }
  }
  EXPECT_GT(lost, 0);
  EXPECT_EQ(report->progress.deviation, 0u);
  // The lost agent keeps its zone in the roll-up: zones are those the run was planned with.
  for (const v1::Cell& cell : report->zone_cells) {
    EXPECT_TRUE(cell.source() == "a" || cell.source() == "b") << cell.ShortDebugString();
    EXPECT_TRUE(cell.target() == "a" || cell.target() == "b") << cell.ShortDebugString();
  }
  EXPECT_EQ(report->zone_cells.size(), 3u);
}

}  // namespace
}  // namespace rstmesh
