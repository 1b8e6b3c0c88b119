// Schedule compilation: the layout derives the same tasks, with the same ids, as expanding
// the plan one task at a time; each initiator's schedule, decoded the way the agent decodes
// it, names exactly its own tasks, each once, in the order of its work list.
#include <gtest/gtest.h>

#include <google/protobuf/util/message_differencer.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "controller/plan_expander.h"
#include "controller/schedule_compiler.h"

namespace rstmesh {
namespace {

std::vector<v1::AgentInfo> Agents(int n) {
  std::vector<v1::AgentInfo> agents;
  for (int i = 0; i < n; ++i) {
    v1::AgentInfo a;
    a.set_id(absl::StrCat("agent-", i));
    a.set_data_endpoint(absl::StrCat("127.0.0.", 10 + i, ":7402"));
    a.set_closed_port(7403);
    (*a.mutable_labels())["zone"] = absl::StrCat("z", i % 3);
    agents.push_back(a);
  }
  return agents;
}

v1::Plan PlanOf(v1::PatternKind kind) {
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(kind);
  plan.mutable_pattern()->set_k(3);
  plan.mutable_pattern()->set_seed(11);
  plan.add_scenarios()->set_name("graceful_close");
  v1::ScenarioRun* idle = plan.add_scenarios();
  idle->set_name("idle_hold");
  idle->set_repetitions(3);
  idle->mutable_params()->set_idle_ms(700);
  plan.add_scenarios()->set_name("refused");
  return plan;
}

// The tasks of `source`'s parts, decoded as agent/schedule_runner.cc does.
std::vector<uint64_t> Decode(const std::vector<v1::Schedule>& parts, uint32_t run) {
  std::vector<uint64_t> ids;
  for (const v1::Schedule& part : parts) {
    for (const v1::ScheduleBlock& block : part.blocks()) {
      for (uint32_t rep = 0; rep < block.repetitions(); ++rep) {
        for (const v1::ScheduleTarget& target : part.targets()) {
          ids.push_back(uint64_t{run} << 32 | (uint64_t{block.first_index()} +
                                               uint64_t{rep} * block.stride() + target.pair() + 1));
        }
      }
    }
  }
  return ids;
}

class ScheduleCompilerTest : public ::testing::TestWithParam<v1::PatternKind> {};

TEST_P(ScheduleCompilerTest, LayoutIsThePlansExpansion) {
  const auto agents = Agents(7);
  const v1::Plan plan = PlanOf(GetParam());
  const std::vector<PlannedTask> expanded = ExpandPlan(plan, agents);
  const TaskLayout layout = TaskLayout::Compile(plan, agents);
  ASSERT_EQ(layout.size(), expanded.size());
  ASSERT_EQ(layout.size(), CountTasks(plan, agents));
  for (uint32_t index = 1; index <= layout.size(); ++index) {
    const PlannedTask& want = expanded[index - 1];
    const PlannedTask got = layout.At(index);
    ASSERT_EQ(got.source, want.source) << index;
    ASSERT_EQ(got.target, want.target) << index;
    ASSERT_EQ(got.scenario, want.scenario) << index;
    ASSERT_EQ(got.repetition, want.repetition) << index;
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got.params, want.params))
        << index;
  }
}

TEST_P(ScheduleCompilerTest, EachInitiatorsScheduleNamesItsOwnTasksOnce) {
  const auto agents = Agents(7);
  const TaskLayout layout = TaskLayout::Compile(PlanOf(GetParam()), agents);
  std::set<uint64_t> seen;
  for (size_t targets_per_part : {size_t{2}, kTargetsPerPart}) {
    seen.clear();
    for (uint32_t source : layout.Initiators()) {
      const std::vector<v1::Schedule> parts = layout.Parts(source, targets_per_part);
      for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(parts[i].part(), i);
      const std::vector<uint64_t> ids = Decode(parts, 9);
      // The controller derives the agent's k-th work item (its progress counts them).
      ASSERT_EQ(layout.WorkSize(source), ids.size());
      for (size_t k = 0; k < ids.size(); ++k) {
        const uint32_t index = layout.WorkAt(source, targets_per_part, k);
        ASSERT_EQ(ids[k], uint64_t{9} << 32 | index) << "work item " << k;
        EXPECT_EQ(layout.At(index).source, layout.agents()[source]);
        EXPECT_TRUE(seen.insert(ids[k]).second) << "task " << index << " twice";
      }
    }
    EXPECT_EQ(seen.size(), layout.size()) << targets_per_part << " targets per part";
  }
}

INSTANTIATE_TEST_SUITE_P(Patterns, ScheduleCompilerTest,
                         ::testing::Values(v1::PATTERN_KIND_FULL_MESH, v1::PATTERN_KIND_RING,
                                           v1::PATTERN_KIND_RANDOM_K,
                                           v1::PATTERN_KIND_ZONE_REPRESENTATIVES));

TEST(ScheduleCompilerIdleTest, IdleDiscoveryLadderIsOneBlockPerRung) {
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  plan.mutable_idle_discovery()->set_min_idle_ms(1000);
  plan.mutable_idle_discovery()->set_max_idle_ms(8000);
  const auto agents = Agents(3);
  const std::vector<PlannedTask> expanded = ExpandPlan(plan, agents);
  const TaskLayout layout = TaskLayout::Compile(plan, agents);
  ASSERT_EQ(layout.size(), expanded.size());
  for (uint32_t index = 1; index <= layout.size(); ++index) {
    EXPECT_EQ(layout.At(index).params.idle_ms(), expanded[index - 1].params.idle_ms());
    EXPECT_EQ(layout.At(index).source, expanded[index - 1].source);
  }
}

TEST(ScheduleCompilerTargetsTest, TargetsGetTheirEndpointsAndUnknownOnesStayEmpty) {
  const auto agents = Agents(3);
  const TaskLayout layout = TaskLayout::Compile(PlanOf(v1::PATTERN_KIND_FULL_MESH), agents);
  v1::Schedule part = layout.Parts(0, kTargetsPerPart).at(0);
  FillTargets(part, [&](const std::string& id, v1::AgentInfo* info) {
    if (id == "agent-2") return false;  // gone
    for (const v1::AgentInfo& a : agents) {
      if (a.id() == id) *info = a;
    }
    return true;
  });
  ASSERT_EQ(part.targets_size(), 2);
  EXPECT_EQ(part.targets(0).agent(), "agent-1");
  EXPECT_EQ(part.targets(0).endpoint(), "127.0.0.11:7402");
  EXPECT_EQ(part.targets(0).closed_port(), 7403u);
  EXPECT_EQ(part.targets(1).endpoint(), "");
}

}  // namespace
}  // namespace rstmesh
