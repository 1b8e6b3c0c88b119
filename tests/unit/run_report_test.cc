// Reports stream from the store: a run too large to roll up per agent pair or to list task by
// task still gets its zone cells, counts and deviations, in one pass, and says what it left
// out.
#include "controller/run_report.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "controller/plan_parser.h"
#include "controller/sqlite_store.h"
#include "core/task_id.h"

namespace rstmesh {
namespace {

TEST(RunReportTest, ALargeRunIsReportedByZoneWithoutItsTasksInMemory) {
  char tmpl[] = "/tmp/rstmesh-report-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  auto store = SqliteStore::Open(dir + "/rstmesh.db");
  ASSERT_TRUE(store.ok()) << store.status();

  auto plan = ParsePlan("pattern: {kind: full_mesh}\nscenarios: [{name: graceful_close}]\n");
  ASSERT_TRUE(plan.ok()) << plan.status();
  RunRecord record;
  record.run_id = "run-1";
  record.plan = *plan;
  for (int i = 0; i < 450; ++i) {
    v1::AgentInfo& agent = record.agents.emplace_back();
    agent.set_id(absl::StrCat("agent-", i));
    (*agent.mutable_labels())["zone"] = i % 2 == 0 ? "a" : "b";
  }
  record.total_tasks = 450 * 449;
  ASSERT_GT(record.total_tasks, ReportOptions::kMaxAgentCellTasks);
  ASSERT_TRUE((*store)->CreateRun(record, {}).ok());

  // The first 100 tasks reported by both ends as Linux predicts; one deviates.
  std::vector<v1::Observation> batch;
  for (uint32_t index = 1; index <= 100; ++index) {
    for (v1::Role role : {v1::ROLE_INITIATOR, v1::ROLE_RESPONDER}) {
      v1::Observation& obs = batch.emplace_back();
      obs.set_run_id("run-1");
      obs.set_task_id(TaskId(1, index).raw());
      obs.set_role(role);
      obs.set_scenario(v1::SCENARIO_GRACEFUL_CLOSE);
      obs.set_stage(v1::STAGE_READ);
      obs.set_observed(role == v1::ROLE_INITIATOR ? v1::CLOSURE_FIN : v1::CLOSURE_NONE);
      obs.set_matched(!(index == 50 && role == v1::ROLE_INITIATOR));
    }
  }
  ASSERT_TRUE((*store)->InsertObservations(batch).ok());

  auto source = StoredReportSource(**store, record);
  ASSERT_TRUE(source.ok()) << source.status();
  auto listed = BuildReport(**store, *source, "zone", {.include_tasks = true});
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(listed.status().message().find("include_tasks"), absl::string_view::npos);
  EXPECT_NE(listed.status().message().find("rstmeshctl export"), absl::string_view::npos);

  auto report = BuildReport(**store, *source, "zone");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->agent_cells_omitted);
  EXPECT_TRUE(report->cells.empty());
  EXPECT_TRUE(report->tasks.empty());
  EXPECT_EQ(report->progress.done, record.total_tasks);
  EXPECT_EQ(report->progress.pass, 99u);
  EXPECT_EQ(report->progress.deviation, 1u);
  ASSERT_EQ(report->deviations.size(), 1u);
  EXPECT_EQ(report->deviations[0].task_id(), TaskId(1, 50).raw());
  ASSERT_EQ(report->zone_cells.size(), 4u);  // a->a, a->b, b->a, b->b
  uint64_t counted = 0;
  for (const v1::Cell& cell : report->zone_cells) counted += cell.tasks();
  EXPECT_EQ(counted, record.total_tasks);
}

}  // namespace
}  // namespace rstmesh
