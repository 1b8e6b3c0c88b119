// The run manager against a real SQLite store and registered (stub-connected) agents: what
// agents send for tasks that never existed is not stored; what they send for real tasks is,
// once.
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

TEST(RunManagerTest, ObservationsOfTasksThatNeverExistedAreNotStored) {
  char tmpl[] = "/tmp/rstmesh-runs-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto store = SqliteStore::Open(dir + "/rstmesh.db");
  ASSERT_TRUE(store.ok());
  AgentRegistry registry;
  for (const char* id : {"a", "b"}) {
    v1::AgentInfo info;
    info.set_id(id);
    info.set_data_endpoint("127.0.0.1:7402");
    registry.Register(info, std::make_shared<Discard>());
  }
  RunManager runs(store->get(), &registry, RunManager::Options{});
  ASSERT_TRUE(runs.Start().ok());
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  plan.add_scenarios()->set_name("graceful_close");
  auto run_id = runs.StartRun(plan);
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  ASSERT_EQ(*run_id, "run-1");
  const uint64_t run = uint64_t{1} << 32;
  ASSERT_TRUE(runs.OnObservations("a", {Obs(run | 1, v1::ROLE_INITIATOR),
                                        Obs(run | 1, v1::ROLE_INITIATOR),  // resent
                                        Obs(run | 3, v1::ROLE_INITIATOR),  // no task 3
                                        Obs(run | 0, v1::ROLE_INITIATOR),
                                        Obs(uint64_t{9} << 32 | 1, v1::ROLE_INITIATOR)})
                  .ok());
  auto stored = (*store)->GetObservations("run-1");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].task_id(), run | 1);
  EXPECT_TRUE((*store)->GetObservations("run-9")->empty());
  runs.Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rstmesh
