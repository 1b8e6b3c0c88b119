// Idle-timeout discovery: the search against simulated paths with a known idle timer, the
// reading of a probe's observation, and the plan's validation and ladder.
#include "controller/idle_discovery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/plan_expander.h"
#include "controller/plan_validator.h"
#include "core/wire_header.h"

namespace rstmesh {
namespace {

// A path whose idle timer is `timeout_ms` (0: none): a probe idle for at least that long
// expires the way `expiry` says.
struct Path {
  uint32_t timeout_ms = 0;
  v1::IdleExpiry expiry = v1::IDLE_EXPIRY_RESET_NEXT_PACKET;
  IdleProbe Run(uint32_t idle_ms, uint32_t round) const {
    IdleProbe p{.idle_ms = idle_ms, .round = round};
    if (timeout_ms != 0 && idle_ms >= timeout_ms) {
      p.result = ProbeResult::kExpired;
      p.expiry = expiry;
    } else {
      p.result = ProbeResult::kSurvived;
    }
    return p;
  }
};

// Runs the search to its end. Probes finish in order of their idle time (as they do on a
// real path: the shorter idles end first) and the search is asked after every one.
struct Outcome {
  v1::IdleTimeout result;
  uint32_t longest_probe_waited_ms = 0;  // the longest probe a round waited for
};
Outcome Search(const v1::IdleDiscovery& plan, const Path& path) {
  const v1::IdleDiscovery d = ResolveIdleDiscovery(plan);
  std::vector<IdleProbe> probes;
  Outcome out;
  IdleSearchStep step = AdvanceIdleSearch(d, probes);
  for (int guard = 0; guard < 1000; ++guard) {
    for (uint32_t idle : step.next) {
      probes.push_back({.idle_ms = idle, .round = step.next_round});
    }
    // The shortest pending probe finishes next.
    auto next = std::min_element(probes.begin(), probes.end(), [](const auto& a, const auto& b) {
      if ((a.result == ProbeResult::kPending) != (b.result == ProbeResult::kPending)) {
        return a.result == ProbeResult::kPending;
      }
      return a.idle_ms < b.idle_ms;
    });
    step = AdvanceIdleSearch(d, probes);
    if (step.result.state() != v1::IDLE_SEARCH_RUNNING) break;
    if (!step.next.empty()) continue;
    if (next == probes.end() || next->result != ProbeResult::kPending) break;
    *next = path.Run(next->idle_ms, next->round);
    out.longest_probe_waited_ms = std::max(out.longest_probe_waited_ms, next->idle_ms);
    step = AdvanceIdleSearch(d, probes);
  }
  // Whatever was still running finishes; the answer must not change.
  for (IdleProbe& p : probes) {
    if (p.result == ProbeResult::kPending) p = path.Run(p.idle_ms, p.round);
  }
  out.result = AdvanceIdleSearch(d, probes).result;
  EXPECT_EQ(out.result.state(), step.result.state());
  return out;
}

TEST(IdleDiscoveryTest, FindsEveryTimerWithinTheResolutionWithBoundedConnections) {
  // From a short test timer to the usual cloud defaults and past RFC 5382's lower bound.
  for (uint32_t timeout :
       {1'300u, 3'000u, 7'000u, 42'000u, 240'000u, 350'000u, 600'000u, 1'200'000u, 7'000'000u}) {
    for (uint32_t per_round : {4u, 8u, 16u}) {
      v1::IdleDiscovery plan;
      plan.set_probes_per_round(per_round);
      Outcome o = Search(plan, {.timeout_ms = timeout});
      SCOPED_TRACE(absl::StrCat("timeout ", timeout, " per round ", per_round, ": ",
                                o.result.ShortDebugString()));
      ASSERT_EQ(o.result.state(), v1::IDLE_SEARCH_FOUND);
      EXPECT_LT(o.result.lower_ms(), timeout);
      EXPECT_GE(o.result.upper_ms(), timeout);
      // +-10 % of the estimate, and the true value inside it.
      EXPECT_LE(o.result.plus_minus_ms(), 0.10 * o.result.estimate_ms() + 1);
      EXPECT_LE(std::abs(double(o.result.estimate_ms()) - timeout), o.result.plus_minus_ms() + 1.0);
      EXPECT_LE(o.result.connections(), 4 * per_round);
      if (per_round == 8) {
        EXPECT_LE(o.result.rounds(), 3u);  // as the README says
      }
      EXPECT_EQ(o.result.expiry(), v1::IDLE_EXPIRY_RESET_NEXT_PACKET);
      EXPECT_TRUE(absl::StrContains(o.result.summary(), "shorter than RFC 5382 REQ-5's 7440 s"))
          << o.result.summary();
      // Rounds are decided by the first probe that expired, not the ladder's longest.
      std::vector<uint32_t> ladder = IdleLadder(ResolveIdleDiscovery(plan));
      EXPECT_LE(o.longest_probe_waited_ms,
                *std::lower_bound(ladder.begin(), ladder.end(), timeout));
    }
  }
}

TEST(IdleDiscoveryTest, TestHarnessTimersResolveInTwoRoundsOf8) {
  // The fleet test's plan: ladder 1 s .. 12 s, 8 probes per round.
  v1::IdleDiscovery plan;
  plan.set_max_idle_ms(12'000);
  for (auto [timeout, expiry] : {std::pair{3'000u, v1::IDLE_EXPIRY_RESET_NEXT_PACKET},
                                 std::pair{7'000u, v1::IDLE_EXPIRY_SILENT_DROP}}) {
    Outcome o = Search(plan, {.timeout_ms = timeout, .expiry = expiry});
    SCOPED_TRACE(o.result.ShortDebugString());
    EXPECT_EQ(o.result.state(), v1::IDLE_SEARCH_FOUND);
    EXPECT_EQ(o.result.rounds(), 2u);
    EXPECT_EQ(o.result.connections(), 16u);
    EXPECT_EQ(o.result.expiry(), expiry);
    EXPECT_LT(o.longest_probe_waited_ms, 12'000u);
  }
}

TEST(IdleDiscoveryTest, NoTimerUpToTheMaximumIsReportedAgainstRfc5382) {
  Outcome o = Search(v1::IdleDiscovery(), {.timeout_ms = 0});
  EXPECT_EQ(o.result.state(), v1::IDLE_SEARCH_ABOVE_MAX);
  EXPECT_EQ(o.result.lower_ms(), kRfc5382IdleMs);
  EXPECT_EQ(o.result.connections(), 8u);
  EXPECT_TRUE(absl::StrContains(o.result.summary(), "meets RFC 5382 REQ-5")) << o.result.summary();

  v1::IdleDiscovery short_ladder;
  short_ladder.set_max_idle_ms(60'000);
  o = Search(short_ladder, {.timeout_ms = 0});
  EXPECT_EQ(o.result.state(), v1::IDLE_SEARCH_ABOVE_MAX);
  EXPECT_EQ(o.result.summary(),
            "no idle timeout up to 60.0 s; RFC 5382 REQ-5 (7440 s) not checked: the longest "
            "probe was shorter");
}

TEST(IdleDiscoveryTest, TimerShorterThanTheFirstRung) {
  Outcome o =
      Search(v1::IdleDiscovery(), {.timeout_ms = 500, .expiry = v1::IDLE_EXPIRY_SILENT_DROP});
  EXPECT_EQ(o.result.state(), v1::IDLE_SEARCH_BELOW_MIN);
  EXPECT_EQ(o.result.upper_ms(), 1000u);
  EXPECT_TRUE(absl::StartsWith(o.result.summary(),
                               "idle timeout shorter than 1.00 s, then the "
                               "path drops the flow silently"))
      << o.result.summary();
}

TEST(IdleDiscoveryTest, RunningOutOfConnectionsLeavesTheBracketUnresolved) {
  v1::IdleDiscovery plan;
  plan.set_probes_per_round(4);
  plan.set_max_connections(6);  // the ladder and one round of 2
  plan.set_resolution_pct(1);
  Outcome o = Search(plan, {.timeout_ms = 350'000});
  EXPECT_EQ(o.result.state(), v1::IDLE_SEARCH_UNRESOLVED);
  EXPECT_EQ(o.result.connections(), 6u);
  EXPECT_LT(o.result.lower_ms(), 350'000u);
  EXPECT_GE(o.result.upper_ms(), 350'000u);
  EXPECT_TRUE(absl::StrContains(o.result.summary(), "resolution not reached in 6 connections"));
}

TEST(IdleDiscoveryTest, WaitsWhileAProbeInsideTheBracketIsRunning) {
  const v1::IdleDiscovery d = ResolveIdleDiscovery(v1::IdleDiscovery());
  std::vector<IdleProbe> probes = {
      {.idle_ms = 1000, .round = 1, .result = ProbeResult::kSurvived},
      {.idle_ms = 5000, .round = 1, .result = ProbeResult::kPending},
      {.idle_ms = 9000,
       .round = 1,
       .result = ProbeResult::kExpired,
       .expiry = v1::IDLE_EXPIRY_SILENT_DROP},
      {.idle_ms = 20000, .round = 1, .result = ProbeResult::kPending},  // above: not waited for
  };
  IdleSearchStep step = AdvanceIdleSearch(d, probes);
  EXPECT_EQ(step.result.state(), v1::IDLE_SEARCH_RUNNING);
  EXPECT_TRUE(step.next.empty());
  probes[1].result = ProbeResult::kSurvived;
  step = AdvanceIdleSearch(d, probes);
  EXPECT_EQ(step.result.state(), v1::IDLE_SEARCH_RUNNING);
  ASSERT_EQ(step.next.size(), 8u);
  EXPECT_EQ(step.next_round, 2u);
  for (uint32_t idle : step.next) {
    EXPECT_GT(idle, 5000u);
    EXPECT_LT(idle, 9000u);
  }
  EXPECT_TRUE(std::is_sorted(step.next.begin(), step.next.end()));
}

TEST(IdleDiscoveryTest, InconclusiveAndNonMonotonicProbesAreCounted) {
  const v1::IdleDiscovery d = ResolveIdleDiscovery(v1::IdleDiscovery());
  std::vector<IdleProbe> all_lost(
      8, {.idle_ms = 1000, .round = 1, .result = ProbeResult::kInconclusive});
  IdleSearchStep step = AdvanceIdleSearch(d, all_lost);
  EXPECT_EQ(step.result.state(), v1::IDLE_SEARCH_INCONCLUSIVE);
  EXPECT_EQ(step.result.inconclusive(), 8u);
  EXPECT_TRUE(step.next.empty());

  std::vector<IdleProbe> flaky = {
      {.idle_ms = 3000, .round = 1, .result = ProbeResult::kSurvived},
      {.idle_ms = 3100,
       .round = 1,
       .result = ProbeResult::kExpired,
       .expiry = v1::IDLE_EXPIRY_RESET_NEXT_PACKET},
      {.idle_ms = 4000, .round = 1, .result = ProbeResult::kSurvived},
  };
  step = AdvanceIdleSearch(d, flaky);
  EXPECT_EQ(step.result.state(), v1::IDLE_SEARCH_FOUND);
  EXPECT_EQ(step.result.non_monotonic(), 1u);
  EXPECT_EQ(step.result.lower_ms(), 3000u);
  EXPECT_EQ(step.result.upper_ms(), 3100u);
}

v1::Observation Initiator(v1::ClosureClass observed, bool matched, uint64_t bytes_sent) {
  v1::Observation obs;
  obs.set_role(v1::ROLE_INITIATOR);
  obs.set_observed(observed);
  obs.set_matched(matched);
  obs.set_bytes_sent(bytes_sent);
  return obs;
}

TEST(IdleDiscoveryTest, ProbeOutcomeFromTheInitiatorsObservation) {
  v1::ScenarioParams params = IdleProbeParams(3000, 2);
  EXPECT_EQ(params.idle_ms(), 3000u);
  EXPECT_EQ(params.probe_round(), 2u);
  const uint64_t with_request = kHeaderSize + params.request_bytes();
  struct Case {
    v1::Observation obs;
    ProbeResult result;
    v1::IdleExpiry expiry;
  } cases[] = {
      {Initiator(v1::CLOSURE_FIN, true, with_request), ProbeResult::kSurvived,
       v1::IDLE_EXPIRY_UNSPECIFIED},
      {Initiator(v1::CLOSURE_RST, false, with_request), ProbeResult::kExpired,
       v1::IDLE_EXPIRY_RESET_NEXT_PACKET},
      {Initiator(v1::CLOSURE_RST, false, kHeaderSize), ProbeResult::kExpired,
       v1::IDLE_EXPIRY_RESET_WHILE_IDLE},
      {Initiator(v1::CLOSURE_TIMEOUT, false, with_request), ProbeResult::kExpired,
       v1::IDLE_EXPIRY_SILENT_DROP},
      {Initiator(v1::CLOSURE_FIN, false, kHeaderSize), ProbeResult::kExpired,
       v1::IDLE_EXPIRY_FIN_WHILE_IDLE},
      {Initiator(v1::CLOSURE_REFUSED, false, 0), ProbeResult::kInconclusive,
       v1::IDLE_EXPIRY_UNSPECIFIED},
      {Initiator(v1::CLOSURE_LOCAL_ERROR, false, 0), ProbeResult::kInconclusive,
       v1::IDLE_EXPIRY_UNSPECIFIED},
  };
  for (const Case& c : cases) {
    IdleProbe p = ProbeFromObservation(params, &c.obs, true);
    EXPECT_EQ(p.result, c.result) << c.obs.ShortDebugString();
    EXPECT_EQ(p.expiry, c.expiry) << c.obs.ShortDebugString();
    EXPECT_EQ(p.idle_ms, 3000u);
    EXPECT_EQ(p.round, 2u);
  }
  EXPECT_EQ(ProbeFromObservation(params, nullptr, false).result, ProbeResult::kPending);
  EXPECT_EQ(ProbeFromObservation(params, nullptr, true).result, ProbeResult::kInconclusive);
}

std::vector<v1::AgentInfo> ThreeZones() {
  std::vector<v1::AgentInfo> agents;
  for (int z = 1; z <= 3; ++z) {
    for (int h = 1; h <= 2; ++h) {
      v1::AgentInfo a;
      a.set_id(absl::StrCat("z", z, "-h", h));
      (*a.mutable_labels())["zone"] = absl::StrCat("z", z);
      agents.push_back(a);
    }
  }
  return agents;
}

TEST(IdleDiscoveryTest, PlanExpandsToTheLadderOnEveryPair) {
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_ZONE_REPRESENTATIVES);
  plan.mutable_idle_discovery()->set_max_idle_ms(12'000);
  ASSERT_TRUE(ValidatePlan(plan, ThreeZones()).ok()) << ValidatePlan(plan, ThreeZones());
  std::vector<PlannedTask> tasks = ExpandPlan(plan, ThreeZones());
  ASSERT_EQ(tasks.size(), 6u * 8u);
  std::vector<uint32_t> ladder = IdleLadder(ResolveIdleDiscovery(plan.idle_discovery()));
  ASSERT_EQ(ladder.size(), 8u);
  EXPECT_EQ(ladder.front(), 1000u);
  EXPECT_EQ(ladder.back(), 12000u);
  for (size_t i = 1; i < ladder.size(); ++i) {
    // Geometric: every rung the same ratio (12^(1/7)) above the last, to the millisecond.
    EXPECT_NEAR(double(ladder[i]) / ladder[i - 1], std::pow(12.0, 1.0 / 7), 0.002);
  }
  for (const PlannedTask& t : tasks) {
    EXPECT_EQ(t.scenario, v1::SCENARIO_IDLE_HOLD);
    EXPECT_EQ(t.params.probe_round(), 1u);
    EXPECT_TRUE(std::count(ladder.begin(), ladder.end(), t.params.idle_ms()));
  }
  EXPECT_EQ(CountTasks(plan, ThreeZones()), 6u * 32u);  // the bound: 4 rounds of 8
}

TEST(IdleDiscoveryTest, BadDiscoveryPlansNameTheField) {
  struct Case {
    std::function<void(v1::Plan&)> set;
    std::string field;
  } cases[] = {
      {[](v1::Plan& p) { p.add_scenarios()->set_name("graceful_close"); }, "scenarios: "},
      {[](v1::Plan& p) { p.mutable_idle_discovery()->set_min_idle_ms(50); },
       "idle_discovery.min_idle_ms: 50 is under 100"},
      {[](v1::Plan& p) { p.mutable_idle_discovery()->set_max_idle_ms(10'000'000); },
       "idle_discovery.max_idle_ms: 10000000 is over the maximum"},
      {[](v1::Plan& p) {
         p.mutable_idle_discovery()->set_min_idle_ms(5000);
         p.mutable_idle_discovery()->set_max_idle_ms(4000);
       },
       "idle_discovery.max_idle_ms: 4000 must be longer than min_idle_ms (5000)"},
      {[](v1::Plan& p) { p.mutable_idle_discovery()->set_resolution_pct(60); },
       "idle_discovery.resolution_pct: 60 is over 50"},
      {[](v1::Plan& p) { p.mutable_idle_discovery()->set_probes_per_round(1); },
       "idle_discovery.probes_per_round: 1 is out of range"},
      {[](v1::Plan& p) { p.mutable_idle_discovery()->set_max_connections(4); },
       "idle_discovery.max_connections: 4 is out of range: probes_per_round (8) to 1024"},
      {[](v1::Plan& p) { p.mutable_limits()->set_deadline_s(600); },
       "limits.deadline_s: 600 s cannot see the ladder's longest probe"},
  };
  for (const Case& c : cases) {
    v1::Plan plan;
    plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
    plan.mutable_idle_discovery();
    c.set(plan);
    absl::Status s = ValidatePlan(plan, ThreeZones());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_TRUE(absl::StrContains(s.message(), c.field)) << s.message();
  }
  // A scenario plan may not pretend to be a probe.
  v1::Plan plan;
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  v1::ScenarioRun* run = plan.add_scenarios();
  run->set_name("idle_hold");
  run->mutable_params()->set_probe_round(1);
  EXPECT_TRUE(absl::StrContains(ValidatePlan(plan, ThreeZones()).message(),
                                "scenarios[0].params.probe_round: set by idle discovery only"));
}

}  // namespace
}  // namespace rstmesh
