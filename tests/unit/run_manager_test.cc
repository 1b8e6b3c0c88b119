// The run manager against a real SQLite store and registered (stub-connected) agents: what
// agents send for tasks that never existed is not stored; what they send for real tasks is,
// once; a retried StartRun returns the run its first attempt started, also after a restart.
#include "controller/run_manager.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "controller/sqlite_store.h"

namespace rstmesh {
namespace {

class Discard : public AgentConnection {
 public:
  bool Send(v1::ControllerMessage) override { return true; }
  void Close() override {}
};

v1::Observation Obs(uint64_t task_id, v1::Role role) {
  v1::Observation obs;
  obs.set_task_id(task_id);
  obs.set_role(role);
  obs.set_scenario(v1::SCENARIO_GRACEFUL_CLOSE);
  obs.set_observed(v1::CLOSURE_FIN);
  return obs;
}

v1::Plan MeshPlan() {
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  plan.add_scenarios()->set_name("graceful_close");
  return plan;
}

// A real store in a temporary directory and two registered agents, "a" and "b".
class RunManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rstmesh-runs-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = SqliteStore::Open(dir_ + "/rstmesh.db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    for (const char* id : {"a", "b"}) {
      v1::AgentInfo info;
      info.set_id(id);
      info.set_data_endpoint("127.0.0.1:7402");
      registry_.Register(info, std::make_shared<Discard>());
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  AgentRegistry registry_;
};

TEST_F(RunManagerTest, RetriedStartRunReturnsTheSameRun) {
  {
    RunManager runs(store_.get(), &registry_, RunManager::Options{});
    ASSERT_TRUE(runs.Start().ok());
    EXPECT_EQ(*runs.StartRun(MeshPlan(), "req-1"), "run-1");
    EXPECT_EQ(*runs.StartRun(MeshPlan(), "req-1"), "run-1") << "a retry started a second run";
    EXPECT_EQ(*runs.StartRun(MeshPlan(), "req-2"), "run-2");
    EXPECT_EQ(*runs.StartRun(MeshPlan()), "run-3");
    EXPECT_EQ(*runs.StartRun(MeshPlan()), "run-4") << "without an id every call starts one";
    auto too_long = runs.StartRun(MeshPlan(), std::string(129, 'x'));
    EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(too_long.status().message().find("request_id"), absl::string_view::npos);
  }
  // A restarted controller still knows which request started which run.
  RunManager restarted(store_.get(), &registry_, RunManager::Options{});
  ASSERT_TRUE(restarted.Start().ok());
  EXPECT_EQ(*restarted.StartRun(MeshPlan(), "req-2"), "run-2");
  EXPECT_EQ(store_->ListRuns()->size(), 4u);
}

TEST_F(RunManagerTest, ObservationsOfTasksThatNeverExistedAreNotStored) {
  RunManager runs(store_.get(), &registry_, RunManager::Options{});
  ASSERT_TRUE(runs.Start().ok());
  auto run_id = runs.StartRun(MeshPlan());
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  ASSERT_EQ(*run_id, "run-1");
  const uint64_t run = TaskId(1, 0).raw();
  ASSERT_TRUE(
      runs.OnObservations(
              "a", {Obs(run | 1, v1::ROLE_INITIATOR), Obs(run | 1, v1::ROLE_INITIATOR),  // resent
                    Obs(run | 3, v1::ROLE_INITIATOR),  // no task 3
                    Obs(run | 0, v1::ROLE_INITIATOR), Obs(TaskId(9, 1).raw(), v1::ROLE_INITIATOR)})
          .ok());
  auto stored = store_->GetObservations("run-1");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].task_id(), run | 1);
  EXPECT_TRUE(store_->GetObservations("run-9")->empty());
}

}  // namespace
}  // namespace rstmesh
