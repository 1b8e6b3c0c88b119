// Joining both ends of a task into a verdict and a diagnosis from the catalogue's table.
#include "controller/task_judge.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"

#include "core/scenario.h"
#include "tests/support/observations.h"

namespace rstmesh {
namespace {

using testing::CleanResponder;
using testing::Obs;

TaskRecord Task(v1::Scenario scenario, TaskState state = TaskState::kDone) {
  return testing::TaskOf(scenario, "a", "b", 7, state);
}

constexpr auto I = v1::ROLE_INITIATOR;

TEST(TaskJudgeTest, BothEndsAsPredictedPass) {
  auto s1 = v1::SCENARIO_GRACEFUL_CLOSE;
  auto result =
      JudgeTask(Task(s1), Obs(s1, I, v1::CLOSURE_FIN, 0, v1::STAGE_READ, v1::ACTION_FIN, 1024),
                CleanResponder(s1, v1::ACTION_FIN, 64 + 512));
  EXPECT_EQ(result.verdict(), v1::VERDICT_PASS) << result.ShortDebugString();
  EXPECT_EQ(result.outcome(), v1::OUTCOME_COMPLETED);
}

TEST(TaskJudgeTest, LostAgentMissingOrUnsupportedEndsAreInconclusive) {
  auto s1 = v1::SCENARIO_GRACEFUL_CLOSE;
  auto lost = JudgeTask(Task(s1, TaskState::kAgentLost), std::nullopt, std::nullopt);
  EXPECT_EQ(lost.verdict(), v1::VERDICT_INCONCLUSIVE);
  EXPECT_EQ(lost.outcome(), v1::OUTCOME_AGENT_LOST);

  auto silent = JudgeTask(Task(s1), std::nullopt, CleanResponder(s1, v1::ACTION_FIN, 576));
  EXPECT_EQ(silent.outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(silent.verdict(), v1::VERDICT_INCONCLUSIVE);

  auto one_sided = JudgeTask(
      Task(s1), Obs(s1, I, v1::CLOSURE_FIN, 0, v1::STAGE_READ, v1::ACTION_FIN, 1024), std::nullopt);
  EXPECT_EQ(one_sided.verdict(), v1::VERDICT_INCONCLUSIVE);

  auto s7 = v1::SCENARIO_SILENT_DROP;
  auto unsupported = JudgeTask(
      Task(s7),
      Obs(s7, I, v1::CLOSURE_UNSUPPORTED, 0, v1::STAGE_UNSPECIFIED, v1::ACTION_NOTHING, 1),
      Obs(s7, v1::ROLE_RESPONDER, v1::CLOSURE_UNSUPPORTED, 0, v1::STAGE_UNSPECIFIED, v1::ACTION_FIN,
          64));
  EXPECT_EQ(unsupported.verdict(), v1::VERDICT_INCONCLUSIVE);
  EXPECT_NE(unsupported.diagnosis().find("CAP_NET_ADMIN"), std::string::npos);
}

struct DiagnosisCase {
  const char* name;
  v1::Scenario scenario;
  v1::ClosureClass seen;
  int err;
  v1::Stage stage;
  uint64_t received;
  v1::LocalAction responder_action;
  const char* diagnosis;
};

TEST(TaskJudgeTest, DeviationsGetTheCataloguesDiagnosis) {
  const DiagnosisCase cases[] = {
      {"resets dropped", v1::SCENARIO_ABORTIVE_CLOSE, v1::CLOSURE_TIMEOUT, 0, v1::STAGE_READ, 1024,
       v1::ACTION_RST, "resets are dropped by a firewall or load balancer"},
      {"proxy turns RST into FIN", v1::SCENARIO_ABORTIVE_CLOSE, v1::CLOSURE_FIN, 0, v1::STAGE_READ,
       1024, v1::ACTION_RST, "converts resets into FIN"},
      {"closed port dropped", v1::SCENARIO_REFUSED, v1::CLOSURE_TIMEOUT, 0, v1::STAGE_CONNECT, 0,
       v1::ACTION_UNSPECIFIED, "closed ports are dropped (DROP policy)"},
      {"closed port unreachable", v1::SCENARIO_REFUSED, v1::CLOSURE_UNREACHABLE, EHOSTUNREACH,
       v1::STAGE_CONNECT, 0, v1::ACTION_UNSPECIFIED, "ICMP unreachable"},
      {"idle reset", v1::SCENARIO_IDLE_HOLD, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, 0,
       v1::ACTION_RST, "reset the next packet (AWS NLB style)"},
      {"idle silent drop", v1::SCENARIO_IDLE_HOLD, v1::CLOSURE_TIMEOUT, 0, v1::STAGE_READ, 0,
       v1::ACTION_FIN, "dropped the flow silently"},
      {"half-close collapsed", v1::SCENARIO_HALF_CLOSE, v1::CLOSURE_FIN, 0, v1::STAGE_READ, 0,
       v1::ACTION_FIN, "does not support half-close"},
  };
  for (const DiagnosisCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::optional<v1::Observation> responder;
    if (c.responder_action != v1::ACTION_UNSPECIFIED) {
      responder = CleanResponder(c.scenario, c.responder_action, 64);
    }
    auto initiator = Obs(c.scenario, I, c.seen, c.err, c.stage, v1::ACTION_NOTHING, c.received);
    auto result = JudgeTask(Task(c.scenario), initiator, responder);
    EXPECT_EQ(result.verdict(), v1::VERDICT_DEVIATION) << result.ShortDebugString();
    EXPECT_NE(result.diagnosis().find(c.diagnosis), std::string::npos) << result.diagnosis();
  }
}

TEST(TaskJudgeTest, ResetThePeerNeverSentIsForgedByThePath) {
  auto s1 = v1::SCENARIO_GRACEFUL_CLOSE;
  // The initiator saw a RST; the responder says it closed with FIN.
  auto result = JudgeTask(
      Task(s1), Obs(s1, I, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, v1::ACTION_NOTHING, 0),
      CleanResponder(s1, v1::ACTION_FIN, 576));
  EXPECT_EQ(result.verdict(), v1::VERDICT_DEVIATION);
  EXPECT_TRUE(result.forged_reset());
  EXPECT_NE(result.diagnosis().find("the reset came from the path, not the peer"),
            std::string::npos)
      << result.diagnosis();

  // Both ends hit: the forged RST at the initiator, then the initiator's host's genuine RST
  // at the responder. Neither end sent a reset itself.
  auto both = JudgeTask(
      Task(s1), Obs(s1, I, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, v1::ACTION_NOTHING, 0),
      Obs(s1, v1::ROLE_RESPONDER, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_WRITE, v1::ACTION_NOTHING,
          576));
  EXPECT_TRUE(both.forged_reset()) << both.ShortDebugString();

  // A reset the responder did send (abortive close seen as RST by a proxy-less path) is not.
  auto s2 = v1::SCENARIO_ABORTIVE_CLOSE;
  auto genuine = JudgeTask(
      Task(s2), Obs(s2, I, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, v1::ACTION_NOTHING, 1024),
      CleanResponder(s2, v1::ACTION_RST, 576));
  EXPECT_EQ(genuine.verdict(), v1::VERDICT_PASS);
  EXPECT_FALSE(genuine.forged_reset());
}

TEST(TaskJudgeTest, PeerLostMidTestIsJudgedFromTheInitiator) {
  auto s8 = v1::SCENARIO_IDLE_HOLD;
  auto reboot = JudgeTask(
      Task(s8, TaskState::kPeerLost),
      Obs(s8, I, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, v1::ACTION_NOTHING, 0), std::nullopt);
  EXPECT_EQ(reboot.verdict(), v1::VERDICT_DEVIATION);
  EXPECT_EQ(reboot.outcome(), v1::OUTCOME_AGENT_LOST);
  EXPECT_NE(reboot.diagnosis().find("the responder's host lost the connection mid-test"),
            std::string::npos);
  auto clean =
      JudgeTask(Task(s8, TaskState::kPeerLost),
                Obs(s8, I, v1::CLOSURE_FIN, 0, v1::STAGE_READ, v1::ACTION_FIN, 1024), std::nullopt);
  EXPECT_EQ(clean.verdict(), v1::VERDICT_INCONCLUSIVE);
}

// A live run judges from one byte per end (EndView); the report from the stored
// observations. They must agree on every verdict and outcome, or /metrics and progress
// would count differently from the report.
TEST(TaskJudgeTest, LiveOneByteViewsJudgeLikeTheStoredObservations) {
  const TaskState states[] = {TaskState::kDone, TaskState::kAgentLost, TaskState::kTimedOut,
                              TaskState::kPeerLost, TaskState::kResponderSilent};
  const v1::Stage stages[] = {v1::STAGE_CONNECT, v1::STAGE_READ};
  int judged = 0;
  std::set<JudgedBy> rules;
  for (const ScenarioDef* scenario : AllScenarios()) {
    const ScenarioDef& def = *scenario;
    for (int closure = v1::CLOSURE_UNSPECIFIED; closure <= v1::CLOSURE_UNSUPPORTED; ++closure) {
      for (v1::Stage stage : stages) {
        for (int variant = 0; variant < 4; ++variant) {  // stalled or not, matched or as judged
          const int stalled = variant & 1;
          auto initiator = Obs(def.id, I, static_cast<v1::ClosureClass>(closure), 0, stage,
                               v1::ACTION_NOTHING, 0);
          initiator.set_agent_stalled_ms(stalled * 1500);
          if (variant & 2) initiator.set_matched(true);
          for (int responder_kind = 0; responder_kind < 6; ++responder_kind) {
            std::optional<v1::Observation> responder;
            if (responder_kind == 1) responder = CleanResponder(def.id, v1::ACTION_FIN, 64);
            if (responder_kind == 2) {
              responder = Obs(def.id, v1::ROLE_RESPONDER, v1::CLOSURE_RST, ECONNRESET,
                              v1::STAGE_READ, v1::ACTION_NOTHING, 0);
            }
            if (responder_kind == 3) {
              responder = Obs(def.id, v1::ROLE_RESPONDER, v1::CLOSURE_LOCAL_ERROR, EMFILE,
                              v1::STAGE_UNSPECIFIED, v1::ACTION_NOTHING, 0);
            }
            if (responder_kind == 4) {
              responder = Obs(def.id, v1::ROLE_RESPONDER, v1::CLOSURE_UNSUPPORTED, 0,
                              v1::STAGE_UNSPECIFIED, v1::ACTION_NOTHING, 0);
            }
            if (responder_kind == 5) {
              responder = CleanResponder(def.id, v1::ACTION_FIN, 64);
              responder->set_agent_stalled_ms(2000);
            }
            for (TaskState state : states) {
              for (bool has_initiator : {true, false}) {
                SCOPED_TRACE(absl::StrCat(def.name, " ", closure, " ", stage, " ", stalled, " ",
                                          responder_kind, " ", static_cast<int>(state)));
                const EndView i = EndView::Of(initiator);
                const std::optional<EndView> r =
                    responder ? std::optional(EndView::Of(*responder)) : std::nullopt;
                const Judgement live =
                    JudgeEnds(def.id, state, has_initiator ? &i : nullptr, r ? &*r : nullptr);
                const v1::TaskResult stored =
                    JudgeTask(Task(def.id, state),
                              has_initiator ? std::optional(initiator) : std::nullopt, responder);
                EXPECT_EQ(live.verdict, stored.verdict());
                EXPECT_EQ(live.outcome, stored.outcome());
                rules.insert(live.by);
                ++judged;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(judged, 1000);
  // Every rule but the unknown scenario is met on the way.
  for (int by = 0; by <= static_cast<int>(JudgedBy::kDeviation); ++by) {
    if (static_cast<JudgedBy>(by) == JudgedBy::kUnknownScenario) continue;
    EXPECT_TRUE(rules.count(static_cast<JudgedBy>(by))) << "rule " << by << " never decided";
  }
}

TEST(TaskJudgeTest, JoinsByteAccounting) {
  auto s3 = v1::SCENARIO_UNREAD_DATA_CLOSE;
  auto initiator = Obs(s3, I, v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, v1::ACTION_NOTHING, 0);
  initiator.mutable_tcp_info()->set_bytes_acked(64 + 4096);
  auto result = JudgeTask(Task(s3), initiator, CleanResponder(s3, v1::ACTION_RST, 64));
  EXPECT_EQ(result.verdict(), v1::VERDICT_PASS);
  EXPECT_EQ(result.initiator().bytes_lost(), 4096u);
  EXPECT_EQ(result.initiator().peer_bytes_read(), 64u);
}

}  // namespace
}  // namespace rstmesh
