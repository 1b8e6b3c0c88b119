// Plans: YAML/JSON parsing one-to-one onto the proto, validation that names the field and the
// reason, and the patterns' expansion into tasks.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "controller/plan_expander.h"
#include "controller/plan_parser.h"
#include "controller/plan_validator.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

std::vector<v1::AgentInfo> Fleet(int zones, int per_zone) {
  std::vector<v1::AgentInfo> agents;
  for (int z = 0; z < zones; ++z) {
    for (int i = 0; i < per_zone; ++i) {
      v1::AgentInfo a;
      a.set_id(absl::StrCat("node-", std::string(1, static_cast<char>('a' + z)), i));
      (*a.mutable_labels())["zone"] = std::string(1, static_cast<char>('a' + z));
      (*a.mutable_labels())["rack"] = absl::StrCat("r", i);
      agents.push_back(a);
    }
  }
  return agents;
}

constexpr const char* kYamlPlan = R"(
name: nightly
selector:
  match_labels: {rack: r0}
pattern:
  kind: full_mesh
scenarios:
  - name: graceful_close
    repetitions: 3
  - name: S8
    params: {idle_ms: 1500}
limits:
  concurrency_per_agent: 8
  deadline_s: 600
)";

constexpr const char* kJsonPlan = R"({
  "name": "nightly",
  "selector": {"match_labels": {"rack": "r0"}},
  "pattern": {"kind": "full_mesh"},
  "scenarios": [{"name": "graceful_close", "repetitions": 3},
                {"name": "S8", "params": {"idle_ms": 1500}}],
  "limits": {"concurrency_per_agent": 8, "deadline_s": 600}
})";

TEST(PlanParserTest, YamlAndJsonMapOntoTheSameMessage) {
  auto yaml = ParsePlan(kYamlPlan);
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  auto json = ParsePlan(kJsonPlan);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*yaml, *json));
  EXPECT_EQ(yaml->name(), "nightly");
  EXPECT_EQ(yaml->selector().match_labels().at("rack"), "r0");
  EXPECT_EQ(yaml->pattern().kind(), v1::PATTERN_KIND_FULL_MESH);
  ASSERT_EQ(yaml->scenarios_size(), 2);
  EXPECT_EQ(yaml->scenarios(0).repetitions(), 3u);
  EXPECT_EQ(yaml->scenarios(1).params().idle_ms(), 1500u);
  EXPECT_EQ(yaml->limits().concurrency_per_agent(), 8u);
  EXPECT_TRUE(ValidatePlan(*yaml, Fleet(3, 2)).ok());
}

struct InvalidCase {
  std::string name;
  std::string plan;
  absl::StatusCode code;
  std::string message;  // must appear in the error: the field path and the reason
};

std::string Base(absl::string_view pattern_and_more) {
  return absl::StrCat("scenarios: [{name: graceful_close}]\n", pattern_and_more);
}

TEST(PlanValidationTest, EveryInvalidPlanNamesTheFieldAndTheReason) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const std::vector<InvalidCase> cases = {
      {"syntax", "pattern: {kind: full_mesh\nscenarios: [", kInvalid, "plan: line "},
      {"empty document", "", kInvalid, "plan: the document is empty"},
      {"not a mapping", "- a\n- b\n", kInvalid, "plan: expected a mapping, got a list"},
      {"unknown field", Base("patern: {kind: ring}"), kInvalid, "patern: unknown field"},
      {"bad pattern", Base("pattern: {kind: mesh}"), kInvalid,
       "pattern.kind: 'mesh' is not one of full_mesh, ring, random_k, zone_representatives"},
      {"missing pattern", Base(""), kInvalid, "pattern.kind: required"},
      {"scenarios not a list", "pattern: {kind: ring}\nscenarios: graceful_close", kInvalid,
       "scenarios: expected a list, got 'graceful_close'"},
      {"no scenarios", "pattern: {kind: ring}\nscenarios: []", kInvalid,
       "scenarios: name at least one scenario"},
      {"unknown scenario", "pattern: {kind: ring}\nscenarios: [{name: nope}]", kInvalid,
       "scenarios[0].name: unknown scenario 'nope'"},
      {"negative count", "pattern: {kind: ring}\nscenarios: [{name: S1, repetitions: -3}]",
       kInvalid, "scenarios[0].repetitions: must not be negative, got -3"},
      {"wrong type", "pattern: {kind: ring}\nscenarios: [{name: S1, repetitions: many}]", kInvalid,
       "scenarios[0].repetitions: expected an unsigned integer, got 'many'"},
      {"too many repetitions", "pattern: {kind: ring}\nscenarios: [{name: S1, repetitions: 20000}]",
       kInvalid, "scenarios[0].repetitions: 20000 is over the maximum of 10000"},
      {"uint32 overflow",
       "pattern: {kind: ring}\nscenarios: [{name: S8, params: {idle_ms: 99999999999}}]", kInvalid,
       "scenarios[0].params.idle_ms: 99999999999 is out of range"},
      {"bad params",
       "pattern: {kind: ring}\nscenarios: [{name: reset_mid_transfer, params: {request_bytes: "
       "1000, read_limit: 5000}}]",
       kInvalid, "scenarios[0]: params.read_limit: 5000 must be below params.request_bytes"},
      {"random_k without k", Base("pattern: {kind: random_k}"), kInvalid,
       "pattern.k: random_k needs k of at least 1"},
      {"k on full mesh", Base("pattern: {kind: full_mesh, k: 2}"), kInvalid,
       "pattern.k: only random_k takes k"},
      {"k too large", Base("pattern: {kind: random_k, k: 9}"), kInvalid,
       "pattern.k: 9 peers per agent, but only 5 other agents are selected"},
      {"selector matches nothing",
       Base("pattern: {kind: ring}\nselector: {match_labels: {zone: z}}"),
       absl::StatusCode::kFailedPrecondition,
       "selector: matches 0 of 6 registered agents; a plan needs at least 2"},
      {"unknown agent", Base("pattern: {kind: ring}\nselector: {agents: [ghost]}"), kInvalid,
       "selector.agents[0]: 'ghost' is not a registered agent"},
      {"labels not a map", Base("pattern: {kind: ring}\nselector: {match_labels: [a]}"), kInvalid,
       "selector.match_labels: expected a mapping, got a list"},
      {"limit out of range", Base("pattern: {kind: ring}\nlimits: {concurrency_per_agent: 5000}"),
       kInvalid, "limits.concurrency_per_agent: 5000 is over the maximum of 1024"},
      {"too many tasks",
       "pattern: {kind: full_mesh}\nscenarios: [{name: S1, repetitions: 10000}, {name: S2, "
       "repetitions: 10000}, {name: S3, repetitions: 10000}]",
       kInvalid, "plan: expands to 900000"},
      {"one zone only",
       Base("pattern: {kind: zone_representatives}\nselector: {match_labels: {zone: a}}"), kInvalid,
       "pattern: the selected agents are all in one zone"},
      {"oversize", std::string(kMaxPlanBytes + 1, '#'), kInvalid, "bytes is over the limit"},
  };
  const auto fleet = Fleet(3, 2);
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status status;
    auto plan = ParsePlan(c.plan);
    status = plan.ok() ? ValidatePlan(*plan, fleet) : plan.status();
    if (c.name == "too many tasks") {
      // 18 agents: 306 pairs x 30000 = 9180000 fits; 19: 342 x 30000 = 10260000 does not.
      EXPECT_TRUE(status.ok()) << status;
      EXPECT_TRUE(ValidatePlan(*plan, Fleet(18, 1)).ok());
      status = ValidatePlan(*plan, Fleet(19, 1));
      EXPECT_NE(status.message().find("plan: expands to 10260000 tasks, over the limit"),
                absl::string_view::npos)
          << status;
      continue;
    }
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_NE(status.message().find(c.message), absl::string_view::npos) << status;
  }
  EXPECT_GE(cases.size(), 15u);
}

// The audit the run engine is built for: every scenario, every ordered pair of 1,000 agents.
TEST(PlanValidationTest, FullMeshOfEveryScenarioOverAThousandAgentsIsValid) {
  std::vector<v1::AgentInfo> fleet = Fleet(1, 1000);
  for (v1::AgentInfo& a : fleet) a.set_tcp_repair(true);
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  for (const ScenarioDef* def : AllScenarios())
    plan.add_scenarios()->set_name(std::string(def->name));
  const absl::Status valid = ValidatePlan(plan, fleet);
  EXPECT_TRUE(valid.ok()) << valid;
  EXPECT_EQ(CountTasks(plan, fleet), uint64_t{1000} * 999 * AllScenarios().size());
}

TEST(PlanValidationTest, ReportsEveryProblemAtOnce) {
  auto plan = ParsePlan(
      "pattern: {kind: random_k}\nscenarios: [{name: nope}, {name: S1, repetitions: 99999}]");
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::Status status = ValidatePlan(*plan, Fleet(2, 2));
  EXPECT_NE(status.message().find("pattern.k:"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("scenarios[0].name:"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("scenarios[1].repetitions:"), absl::string_view::npos) << status;
}

v1::Plan PlanWith(v1::PatternKind kind, uint32_t k = 0, uint64_t seed = 0) {
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(kind);
  plan.mutable_pattern()->set_k(k);
  plan.mutable_pattern()->set_seed(seed);
  plan.add_scenarios()->set_name("graceful_close");
  return plan;
}

TEST(PlanExpanderTest, FullMeshIsEveryOrderedPair) {
  auto fleet = Fleet(2, 2);
  auto pairs = PatternPairs(PlanWith(v1::PATTERN_KIND_FULL_MESH).pattern(), fleet);
  EXPECT_EQ(pairs.size(), 12u);
  std::set<std::pair<std::string, std::string>> unique(pairs.begin(), pairs.end());
  EXPECT_EQ(unique.size(), 12u);
  for (const auto& [a, b] : pairs) EXPECT_NE(a, b);
}

TEST(PlanExpanderTest, RingVisitsEachAgentOnceEachWay) {
  auto fleet = Fleet(1, 5);
  auto pairs = PatternPairs(PlanWith(v1::PATTERN_KIND_RING).pattern(), fleet);
  ASSERT_EQ(pairs.size(), 5u);
  std::map<std::string, int> out, in;
  for (const auto& [a, b] : pairs) {
    ++out[a];
    ++in[b];
  }
  for (const auto& agent : fleet) {
    EXPECT_EQ(out[agent.id()], 1);
    EXPECT_EQ(in[agent.id()], 1);
  }
}

TEST(PlanExpanderTest, RandomKIsSeededDistinctAndNeverSelf) {
  auto fleet = Fleet(2, 5);
  auto first = PatternPairs(PlanWith(v1::PATTERN_KIND_RANDOM_K, 3, 42).pattern(), fleet);
  auto again = PatternPairs(PlanWith(v1::PATTERN_KIND_RANDOM_K, 3, 42).pattern(), fleet);
  auto other = PatternPairs(PlanWith(v1::PATTERN_KIND_RANDOM_K, 3, 43).pattern(), fleet);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  ASSERT_EQ(first.size(), 30u);
  std::map<std::string, std::set<std::string>> peers;
  for (const auto& [a, b] : first) {
    EXPECT_NE(a, b);
    peers[a].insert(b);
  }
  for (const auto& [a, set] : peers) EXPECT_EQ(set.size(), 3u) << a;
}

TEST(PlanExpanderTest, ZoneRepresentativesMeshOneAgentPerZone) {
  auto fleet = Fleet(3, 4);
  auto pairs = PatternPairs(PlanWith(v1::PATTERN_KIND_ZONE_REPRESENTATIVES, 0, 7).pattern(), fleet);
  ASSERT_EQ(pairs.size(), 6u);
  std::map<std::string, std::set<std::string>> by_zone;  // zone -> agents used
  for (const auto& [a, b] : pairs) {
    by_zone[a.substr(5, 1)].insert(a);
    by_zone[b.substr(5, 1)].insert(b);
  }
  ASSERT_EQ(by_zone.size(), 3u);
  for (const auto& [zone, used] : by_zone) EXPECT_EQ(used.size(), 1u) << zone;
}

TEST(PlanExpanderTest, TasksArePairsTimesRepetitionsWithResolvedParams) {
  auto plan = ParsePlan(kYamlPlan);
  ASSERT_TRUE(plan.ok());
  auto fleet = Fleet(3, 2);  // rack r0 selects 3 agents: 6 ordered pairs
  auto tasks = ExpandPlan(*plan, fleet);
  EXPECT_EQ(tasks.size(), 6u * (3 + 1));
  EXPECT_EQ(CountTasks(*plan, fleet), tasks.size());
  int idle = 0;
  for (const PlannedTask& t : tasks) {
    EXPECT_NE(t.source, t.target);
    EXPECT_GT(t.params.request_bytes(), 0u) << "defaults resolved";
    if (t.scenario == v1::SCENARIO_IDLE_HOLD) {
      ++idle;
      EXPECT_EQ(t.params.idle_ms(), 1500u);
    }
  }
  EXPECT_EQ(idle, 6);
}

}  // namespace
}  // namespace rstmesh
