// Findings: one cause per path from all of its scenarios (the differential diagnosis), the
// smallest place that explains the paths showing it, and what could not be judged counted
// by reason. The tasks are judged by the real judge from observations as agents send them.
#include "controller/findings.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/path_diagnosis.h"
#include "controller/task_judge.h"
#include "tests/support/observations.h"

namespace rstmesh {
namespace {

using testing::CleanResponder;
using testing::Obs;
using testing::TaskOf;

constexpr auto I = v1::ROLE_INITIATOR;
constexpr auto kGraceful = v1::SCENARIO_GRACEFUL_CLOSE;
constexpr auto kAbortive = v1::SCENARIO_ABORTIVE_CLOSE;
constexpr auto kWriteAfter = v1::SCENARIO_WRITE_AFTER_PEER_CLOSE;
constexpr auto kRefused = v1::SCENARIO_REFUSED;
constexpr auto kIdle = v1::SCENARIO_IDLE_HOLD;
constexpr auto kHalf = v1::SCENARIO_HALF_CLOSE;

uint64_t BytesFor(const Expectation& e, const ScenarioDef& def) {
  if (e.bytes_received == nullptr) return 0;
  return e.bytes_received(ResolveParams(def, {})).value_or(0);
}

uint32_t FirstStage(uint32_t stages) {
  for (uint32_t s = 1; s < 8; ++s) {
    if (stages & (1u << s)) return s;
  }
  return v1::STAGE_UNSPECIFIED;
}

// What each end of a task reports on a clean path.
v1::TaskResult Passing(const TaskRecord& task) {
  const ScenarioDef& def = *FindScenario(task.scenario);
  auto initiator = Obs(def.id, I, def.initiator.closure, def.initiator.error_number,
                       static_cast<v1::Stage>(FirstStage(def.initiator.stages)),
                       def.initiator.action, BytesFor(def.initiator, def), task.task_id);
  std::optional<v1::Observation> responder;
  if (def.responder.observes) {
    responder = Obs(def.id, v1::ROLE_RESPONDER, def.responder.closure, def.responder.error_number,
                    static_cast<v1::Stage>(FirstStage(def.responder.stages)), def.responder.action,
                    BytesFor(def.responder, def), task.task_id);
  }
  v1::TaskResult r = JudgeTask(task, initiator, responder);
  EXPECT_EQ(r.verdict(), v1::VERDICT_PASS) << r.ShortDebugString();
  return r;
}

// What the path made of it: the initiator saw `closure` at `stage` after `received` bytes;
// the responder, if it saw the connection, did what Linux predicts for it (`responder`).
struct Seen {
  v1::ClosureClass closure;
  int err;
  v1::Stage stage;
  uint64_t received = 0;
  bool responder_saw = true;
  v1::LocalAction responder_action = v1::ACTION_UNSPECIFIED;  // unset: the scenario's
};

v1::TaskResult Deviating(const TaskRecord& task, const Seen& seen) {
  const ScenarioDef& def = *FindScenario(task.scenario);
  auto initiator = Obs(def.id, I, seen.closure, seen.err, seen.stage, v1::ACTION_NOTHING,
                       seen.received, task.task_id);
  std::optional<v1::Observation> responder;
  if (seen.responder_saw && def.responder.observes) {
    responder =
        CleanResponder(def.id,
                       seen.responder_action != v1::ACTION_UNSPECIFIED ? seen.responder_action
                                                                       : def.responder.action,
                       BytesFor(def.responder, def), task.task_id);
  }
  v1::TaskResult r = JudgeTask(task, initiator, responder);
  EXPECT_EQ(r.verdict(), v1::VERDICT_DEVIATION) << r.ShortDebugString();
  return r;
}

const Seen kConnectTimeout{v1::CLOSURE_TIMEOUT, ETIMEDOUT, v1::STAGE_CONNECT, 0, false};

// A fleet of `zones` x `hosts` agents ("z1-h1", zone label "z1"), every ordered pair tested
// with the scenarios given; `path` says what the path does to each task.
class Fleet {
 public:
  Fleet(int zones, int hosts) {
    for (int z = 1; z <= zones; ++z) {
      for (int h = 1; h <= hosts; ++h) {
        v1::AgentInfo a;
        a.set_id(absl::StrCat("z", z, "-h", h));
        (*a.mutable_labels())["zone"] = absl::StrCat("z", z);
        (*a.mutable_labels())["rack"] = absl::StrCat("r", h);
        agents_.push_back(a);
      }
    }
  }
  template <typename F>
  FindingsBuilder::Findings Run(std::initializer_list<v1::Scenario> scenarios, F&& path) {
    FindingsBuilder builder(agents_);
    uint64_t id = 0;
    for (const auto& src : agents_) {
      for (const auto& dst : agents_) {
        if (src.id() == dst.id()) continue;
        for (v1::Scenario s : scenarios) {
          TaskRecord task = TaskOf(s, src.id(), dst.id(), ++id);
          std::optional<Seen> seen = path(src.id(), dst.id(), s);
          builder.Add(task, seen ? Deviating(task, *seen) : Passing(task));
        }
      }
    }
    return builder.Build();
  }

 private:
  std::vector<v1::AgentInfo> agents_;
};

std::string Zone(const std::string& id) { return id.substr(0, 2); }

std::vector<std::string> Causes(const FindingsBuilder::Findings& f) {
  std::vector<std::string> out;
  for (const v1::Finding& finding : f.findings) out.push_back(finding.cause());
  return out;
}

using Causes_ = std::vector<std::string>;

TEST(FindingsTest, DroppedResetsAreOneFindingAcrossTheScenariosTheyChange) {
  Fleet fleet(3, 2);
  auto found = fleet.Run(
      {kGraceful, kAbortive, kRefused, kWriteAfter},
      [](const std::string& s, const std::string& d, v1::Scenario sc) -> std::optional<Seen> {
        const bool cut =
            (Zone(s) == "z1" && Zone(d) == "z2") || (Zone(s) == "z2" && Zone(d) == "z1");
        if (!cut) return std::nullopt;
        if (sc == kAbortive) return Seen{v1::CLOSURE_TIMEOUT, ETIMEDOUT, v1::STAGE_READ, 0};
        if (sc == kRefused) return kConnectTimeout;
        if (sc == kWriteAfter) return Seen{v1::CLOSURE_FIN, 0, v1::STAGE_READ, 0};
        return std::nullopt;
      });
  ASSERT_EQ(Causes(found), Causes_{"resets_dropped"});
  const v1::Finding& f = found.findings[0];
  EXPECT_EQ(f.scenarios_size(), 3);
  EXPECT_EQ(f.paths(), 8u);
  EXPECT_EQ(f.deviated(), 24u);
  EXPECT_EQ(f.tasks(), 24u);
  ASSERT_EQ(f.places_size(), 1) << f.ShortDebugString();
  EXPECT_EQ(f.places(0).kind(), v1::PLACE_LABEL_BOTH);
  EXPECT_EQ(f.places(0).text(), "zone z1 <-> z2");
  EXPECT_EQ(f.places(0).paths(), 8u);
  EXPECT_TRUE(found.inconclusive.empty());
}

TEST(FindingsTest, ABlackholeIsUnreachableNotAListOfClosureSymptoms) {
  Fleet fleet(2, 2);
  auto found = fleet.Run(
      {kGraceful, kAbortive, kRefused, kIdle},
      [](const std::string& s, const std::string& d, v1::Scenario) -> std::optional<Seen> {
        if (Zone(s) == "z1" && Zone(d) == "z2") return kConnectTimeout;
        return std::nullopt;
      });
  ASSERT_EQ(Causes(found), Causes_{"unreachable"});
  EXPECT_EQ(found.findings[0].scenarios_size(), 4);
  ASSERT_EQ(found.findings[0].places_size(), 1);
  EXPECT_EQ(found.findings[0].places(0).text(), "zone z1 -> z2");
}

TEST(FindingsTest, RefusalOfAListeningPortComesFromThePath) {
  Fleet fleet(2, 2);
  auto found = fleet.Run(
      {kGraceful, kAbortive, kRefused},
      [](const std::string& s, const std::string& d, v1::Scenario sc) -> std::optional<Seen> {
        if (Zone(s) == "z1" && Zone(d) == "z2" && sc != kRefused) {
          return Seen{v1::CLOSURE_REFUSED, ECONNREFUSED, v1::STAGE_CONNECT, 0, false};
        }
        return std::nullopt;
      });
  ASSERT_EQ(Causes(found), Causes_{"path_refuses"});
  EXPECT_EQ(found.findings[0].deviated(), 8u);
}

TEST(FindingsTest, IcmpProhibitedOnV4AndV6AndALocalFirewallAreOneCause) {
  Fleet fleet(2, 1);
  int n = 0;
  auto found =
      fleet.Run({kGraceful, kRefused},
                [&](const std::string&, const std::string&, v1::Scenario) -> std::optional<Seen> {
                  const int errs[] = {EHOSTUNREACH, EACCES, EPERM, ENETUNREACH};
                  return Seen{v1::CLOSURE_UNREACHABLE, errs[n++ % 4], v1::STAGE_CONNECT, 0, false};
                });
  ASSERT_EQ(Causes(found), Causes_{"prohibited"});
  EXPECT_EQ(found.findings[0].places(0).kind(), v1::PLACE_FLEET);
}

TEST(FindingsTest, ClosedPortDropPolicyWhenResetsOtherwiseArrive) {
  Fleet fleet(2, 1);
  auto drop_closed = [](const std::string&, const std::string&,
                        v1::Scenario sc) -> std::optional<Seen> {
    if (sc == kRefused) return kConnectTimeout;
    return std::nullopt;
  };
  auto with_abortive = fleet.Run({kGraceful, kAbortive, kRefused}, drop_closed);
  ASSERT_EQ(Causes(with_abortive), Causes_{"closed_port_dropped"});
  EXPECT_TRUE(with_abortive.findings[0].also_consistent_with().empty());
  // Without a scenario whose RST would tell, dropped resets explain it as well: said, with
  // what to run to tell them apart.
  auto without = fleet.Run({kGraceful, kRefused}, drop_closed);
  ASSERT_EQ(Causes(without), Causes_{"closed_port_dropped"});
  ASSERT_EQ(without.findings[0].also_consistent_with_size(), 1);
  EXPECT_EQ(without.findings[0].also_consistent_with(0).substr(0, 31),
            "resets_dropped (run abortive_cl");
}

TEST(FindingsTest, AForgedResetIsToldFromIdleExpiryByTheOtherScenarios) {
  Fleet fleet(2, 1);
  const Seen forged{v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, 100, true, v1::ACTION_FIN};
  auto everywhere = fleet.Run(
      {kGraceful, kIdle},
      [&](const std::string&, const std::string&, v1::Scenario) { return std::optional(forged); });
  ASSERT_EQ(Causes(everywhere), Causes_{"forged_reset"});
  EXPECT_EQ(everywhere.findings[0].scenarios_size(), 2);
  auto idle_only = fleet.Run(
      {kGraceful, kIdle},
      [&](const std::string&, const std::string&, v1::Scenario sc) -> std::optional<Seen> {
        if (sc == kIdle) return forged;
        return std::nullopt;
      });
  ASSERT_EQ(Causes(idle_only), Causes_{"idle_reset"});
}

// An idle timer resets only connections that idled longer than it: on a path where a
// 3 s idle survived and a 1 s idle was reset, the reset was no idle timer's.
TEST(FindingsTest, AnIdleTimerCannotSpareALongerIdle) {
  std::vector<v1::AgentInfo> agents(2);
  agents[0].set_id("a");
  agents[1].set_id("b");
  const Seen forged{v1::CLOSURE_RST, ECONNRESET, v1::STAGE_READ, 100, true, v1::ACTION_FIN};
  auto run = [&](uint32_t reset_idle, uint32_t passed_idle) {
    FindingsBuilder builder(agents);
    TaskRecord reset = TaskOf(kIdle, "a", "b", 1);
    reset.params.set_idle_ms(reset_idle);
    builder.Add(reset, Deviating(reset, forged));
    TaskRecord passed = TaskOf(kIdle, "a", "b", 2);
    passed.params.set_idle_ms(passed_idle);
    builder.Add(passed, Passing(passed));
    TaskRecord graceful = TaskOf(kGraceful, "a", "b", 3);
    builder.Add(graceful, Passing(graceful));
    return builder.Build();
  };
  EXPECT_EQ(Causes(run(1000, 3000)), Causes_{"forged_reset"});
  EXPECT_EQ(Causes(run(3000, 1000)), Causes_{"idle_reset"}) << "longer idles reset: a timer";
}

TEST(FindingsTest, AProxyThatTurnsResetsIntoFinAlsoExplainsCollapsedHalfClose) {
  Fleet fleet(2, 1);
  auto found =
      fleet.Run({kGraceful, kAbortive, kHalf},
                [](const std::string&, const std::string&, v1::Scenario sc) -> std::optional<Seen> {
                  if (sc == kAbortive) return Seen{v1::CLOSURE_FIN, 0, v1::STAGE_READ, 0};
                  if (sc == kHalf) return Seen{v1::CLOSURE_FIN, 0, v1::STAGE_READ, 0};
                  return std::nullopt;
                });
  ASSERT_EQ(Causes(found), Causes_{"resets_to_fin"});
  EXPECT_EQ(found.findings[0].scenarios_size(), 2);
}

// Resets into one host dropped: the paths it opens deviate (the RSTs travel towards the
// initiator), and the finding names that host and the direction of the packets.
TEST(FindingsTest, AFaultOnOneHostIsNamedAsThatHost) {
  Fleet fleet(3, 3);
  auto into = [](std::set<std::string> hosts) {
    return [hosts](const std::string& s, const std::string&, v1::Scenario) -> std::optional<Seen> {
      if (hosts.count(s)) return Seen{v1::CLOSURE_TIMEOUT, ETIMEDOUT, v1::STAGE_READ, 0};
      return std::nullopt;
    };
  };
  auto one = fleet.Run({kAbortive}, into({"z2-h3"}));
  ASSERT_EQ(Causes(one), Causes_{"resets_dropped"});
  ASSERT_EQ(one.findings[0].places_size(), 1) << one.findings[0].ShortDebugString();
  EXPECT_EQ(one.findings[0].places(0).kind(), v1::PLACE_HOST_OUTBOUND);
  EXPECT_EQ(one.findings[0].places(0).text(),
            "z2-h3: its inbound traffic (answers to the connections z2-h3 opens)");
  EXPECT_EQ(one.findings[0].places(0).paths(), 8u);

  auto two = fleet.Run({kAbortive}, into({"z1-h1", "z3-h2"}));
  ASSERT_EQ(Causes(two), Causes_{"resets_dropped"});
  ASSERT_EQ(two.findings[0].places_size(), 2);
  EXPECT_EQ(two.findings[0].places(0).source(), "z1-h1");
  EXPECT_EQ(two.findings[0].places(1).source(), "z3-h2");

  // A rack (any label): every path opened from rack r1.
  auto rack =
      fleet.Run({kAbortive},
                [](const std::string& s, const std::string&, v1::Scenario) -> std::optional<Seen> {
                  if (absl::EndsWith(s, "-h1"))
                    return Seen{v1::CLOSURE_TIMEOUT, ETIMEDOUT, v1::STAGE_READ, 0};
                  return std::nullopt;
                });
  ASSERT_EQ(rack.findings.size(), 1u);
  ASSERT_EQ(rack.findings[0].places_size(), 1) << rack.findings[0].ShortDebugString();
  EXPECT_EQ(rack.findings[0].places(0).text(), "rack r1 -> anywhere");

  // One path alone is named as that path.
  auto single = fleet.Run(
      {kAbortive},
      [](const std::string& s, const std::string& d, v1::Scenario) -> std::optional<Seen> {
        if (s == "z1-h2" && d == "z3-h1")
          return Seen{v1::CLOSURE_TIMEOUT, ETIMEDOUT, v1::STAGE_READ, 0};
        return std::nullopt;
      });
  ASSERT_EQ(single.findings.size(), 1u);
  EXPECT_EQ(single.findings[0].places(0).text(), "z1-h2 -> z3-h1");
}

TEST(FindingsTest, WhatNoCauseExplainsStaysVisible) {
  Fleet fleet(1, 2);
  auto found = fleet.Run(
      {kGraceful}, [](const std::string&, const std::string&, v1::Scenario) -> std::optional<Seen> {
        return Seen{v1::CLOSURE_ABORTED, ECONNABORTED, v1::STAGE_READ, 0};
      });
  ASSERT_EQ(Causes(found), Causes_{"unexplained"});
  EXPECT_EQ(found.findings[0].title(), "graceful_close: observed ABORTED where Linux predicts FIN");
}

TEST(FindingsTest, TasksThatCannotBeJudgedAreCountedByReasonNeverAFinding) {
  std::vector<v1::AgentInfo> agents(2);
  agents[0].set_id("a");
  agents[1].set_id("b");
  FindingsBuilder builder(agents);
  for (uint64_t id = 1; id <= 12; ++id) {
    TaskRecord task = TaskOf(kGraceful, "a", "b", id, TaskState::kResponderSilent);
    builder.Add(task, JudgeTask(task,
                                Obs(kGraceful, I, v1::CLOSURE_TIMEOUT, ETIMEDOUT, v1::STAGE_READ,
                                    v1::ACTION_NOTHING, 0, id),
                                std::nullopt));
  }
  auto found = builder.Build();
  EXPECT_TRUE(found.findings.empty());
  ASSERT_EQ(found.inconclusive.size(), 1u);
  EXPECT_EQ(found.inconclusive[0].judged_by(), "responder_silent");
  EXPECT_EQ(found.inconclusive[0].tasks(), 12u);
  ASSERT_EQ(found.inconclusive[0].agents_size(), 1);
  EXPECT_EQ(found.inconclusive[0].agents(0), "b (12)");
}

}  // namespace
}  // namespace rstmesh
