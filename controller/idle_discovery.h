// Idle-timeout discovery: finds how long a path keeps an idle TCP connection, and what it
// does when that time is up, with a bounded number of idle_hold probes per pair.
//
// The search is a pure function of the probes so far (their idle times, rounds and what
// their initiators saw), so a restarted controller picks it up from its store:
//   1. the ladder: probes_per_round probes at once, idle times spaced geometrically from
//      min_idle_ms to max_idle_ms;
//   2. the bracket: the longest idle that survived (lower) and the shortest that expired
//      (upper); the timeout lies in (lower, upper];
//   3. refinement: once no unfinished probe can still move the bracket, another round of
//      probes spaced geometrically inside it, until half the bracket's width is within
//      resolution_pct of its middle or the pair's connections are used up.
// A round is decided as soon as its answer is known: probes longer than an expired one are
// not waited for.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "rstmesh/v1/closure.pb.h"
#include "rstmesh/v1/plan.pb.h"
#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

// RFC 5382 REQ-5: a NAT's established-connection idle timeout must not be less than
// 2 hours 4 minutes.
inline constexpr uint32_t kRfc5382IdleMs = 7'440'000;

// IdleDiscovery with its defaults filled in.
v1::IdleDiscovery ResolveIdleDiscovery(const v1::IdleDiscovery& plan);

enum class ProbeResult { kPending, kSurvived, kExpired, kInconclusive };

struct IdleProbe {
  uint32_t idle_ms = 0;
  uint32_t round = 0;
  ProbeResult result = ProbeResult::kPending;
  v1::IdleExpiry expiry = v1::IDLE_EXPIRY_UNSPECIFIED;  // kExpired only
};

// What an idle_hold probe's initiator saw. No observation: pending, or inconclusive once the
// task has ended without one (timeout, agent lost).
IdleProbe ProbeFromObservation(const v1::ScenarioParams& params, const v1::Observation* initiator,
                               bool task_ended);

struct IdleSearchStep {
  v1::IdleTimeout result;      // state RUNNING until decided; source/target/zones unset
  std::vector<uint32_t> next;  // idle times of the next round's probes, if one starts now
  uint32_t next_round = 0;
};

// The ladder's idle times (the first round).
std::vector<uint32_t> IdleLadder(const v1::IdleDiscovery& resolved);

// Where a pair's search stands and what it should do next. `resolved` as from
// ResolveIdleDiscovery; `probes` every probe of the pair so far (any order).
IdleSearchStep AdvanceIdleSearch(const v1::IdleDiscovery& resolved,
                                 const std::vector<IdleProbe>& probes);

// "3.04 s", "350 s", "2 h 4 min".
std::string FormatIdle(uint32_t ms);
std::string IdleExpiryName(v1::IdleExpiry expiry);
// The timeout column of a report: "2.96 s +- 0.06 s", "> 12.0 s", "< 1.00 s" or "-".
std::string IdleTimeoutText(const v1::IdleTimeout& t, const std::string& plus_minus = "+-");
std::string IdleSearchStateName(v1::IdleSearchState state);

}  // namespace rstmesh
