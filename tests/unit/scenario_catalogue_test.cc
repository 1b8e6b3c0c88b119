#include <gtest/gtest.h>

#include <set>

#include "core/scenario.h"
#include "tests/support/observations.h"

namespace rstmesh {
namespace {

TEST(ScenarioCatalogueTest, EveryProtoScenarioIsDefinedOnceWithBothRoles) {
  std::set<int> ids;
  std::set<std::string> names;
  for (const ScenarioDef* def : AllScenarios()) {
    EXPECT_TRUE(ids.insert(def->id).second);
    EXPECT_TRUE(names.insert(std::string(def->name)).second);
    EXPECT_NE(def->run_initiator, nullptr) << def->name;
    if (def->responder.observes) {
      EXPECT_NE(def->run_responder, nullptr) << def->name;
    }
  }
  for (int id = 1; id <= v1::Scenario_MAX; ++id) EXPECT_TRUE(ids.count(id)) << id;
}

TEST(ScenarioCatalogueTest, FindsByNameAndCode) {
  EXPECT_EQ(FindScenario("half_close")->id, v1::SCENARIO_HALF_CLOSE);
  EXPECT_EQ(FindScenario("S7")->id, v1::SCENARIO_SILENT_DROP);
  EXPECT_EQ(FindScenario("s7")->id, v1::SCENARIO_SILENT_DROP);
  EXPECT_EQ(FindScenario("nope"), nullptr);
  EXPECT_EQ(FindScenario(v1::SCENARIO_UNSPECIFIED), nullptr);
}

TEST(ScenarioCatalogueTest, ResolvesDefaultsAndKeepsOverrides) {
  const ScenarioDef& idle = *FindScenario(v1::SCENARIO_IDLE_HOLD);
  v1::ScenarioParams given;
  given.set_idle_ms(250);
  v1::ScenarioParams p = ResolveParams(idle, given);
  EXPECT_EQ(p.idle_ms(), 250u);
  EXPECT_EQ(p.request_bytes(), idle.defaults.request_bytes());
  EXPECT_GT(p.request_bytes(), 0u);
}

TEST(ScenarioCatalogueTest, ValidationNamesTheParameter) {
  const ScenarioDef& s9 = *FindScenario(v1::SCENARIO_RESET_MID_TRANSFER);
  v1::ScenarioParams p = ResolveParams(s9, {});
  EXPECT_TRUE(ValidateParams(s9, p).ok());
  p.set_read_limit(p.request_bytes());
  absl::Status status = ValidateParams(s9, p);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("params.read_limit"), absl::string_view::npos) << status;
  v1::ScenarioParams big = ResolveParams(s9, {});
  big.set_request_bytes(kMaxRequestBytes + 1);
  EXPECT_NE(ValidateParams(s9, big).message().find("params.request_bytes"),
            absl::string_view::npos);
}

// Unjudged, as an agent sends it: the tests below judge it themselves.
v1::Observation Obs(v1::Role role, v1::ClosureClass closure, int err, v1::Stage stage,
                    v1::LocalAction action, uint64_t received) {
  return testing::RawObs(v1::SCENARIO_UNSPECIFIED, role, closure, err, stage, action, received);
}

TEST(ScenarioCatalogueTest, JudgeComparesClassErrnoStageActionAndBytes) {
  const ScenarioDef& s1 = *FindScenario(v1::SCENARIO_GRACEFUL_CLOSE);
  v1::ScenarioParams p = ResolveParams(s1, {});
  auto good = Obs(v1::ROLE_INITIATOR, v1::CLOSURE_FIN, 0, v1::STAGE_READ, v1::ACTION_FIN,
                  p.response_bytes());
  Judge(s1, p, good);
  EXPECT_TRUE(good.matched()) << good.detail();
  EXPECT_EQ(good.expected(), v1::CLOSURE_FIN);

  auto proxy =
      Obs(v1::ROLE_INITIATOR, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, v1::ACTION_NOTHING, 0);
  Judge(s1, p, proxy);
  EXPECT_FALSE(proxy.matched());
  EXPECT_NE(proxy.detail().find("observed RST, expected FIN"), std::string::npos);

  auto short_read = Obs(v1::ROLE_INITIATOR, v1::CLOSURE_FIN, 0, v1::STAGE_READ, v1::ACTION_FIN,
                        p.response_bytes() - 1);
  Judge(s1, p, short_read);
  EXPECT_FALSE(short_read.matched());
  EXPECT_NE(short_read.detail().find("read"), std::string::npos);

  const ScenarioDef& s7 = *FindScenario(v1::SCENARIO_SILENT_DROP);
  auto unsupported = Obs(v1::ROLE_INITIATOR, v1::CLOSURE_UNSUPPORTED, 0, v1::STAGE_UNSPECIFIED,
                         v1::ACTION_NOTHING, 1);
  Judge(s7, ResolveParams(s7, {}), unsupported);
  EXPECT_FALSE(unsupported.matched());
  EXPECT_TRUE(IsUnsupported(unsupported));
}

}  // namespace
}  // namespace rstmesh
