#include "core/causes.h"

#include <array>

#include "core/scenario.h"

namespace rstmesh {
namespace {

constexpr std::array<CauseDef, kCauseCount> kCauses = {{
    {Cause::kUnreachable, "unreachable", "the path is unreachable: SYNs are dropped (blackhole)",
     Toward::kEither,
     "connect() timed out in every scenario: no SYN-ACK and no refusal came back, so no "
     "connection ever existed"},
    {Cause::kPathRefuses, "path_refuses",
     "the path refuses connections with a RST: the responder never saw the SYN", Toward::kEither,
     "connect() to a listening agent's data port was refused although that agent was alive "
     "and serving: the RST answering the SYN came from a firewall or load balancer on the way"},
    {Cause::kProhibited, "prohibited",
     "a firewall answers with ICMP unreachable / admin-prohibited", Toward::kEither,
     "connect() failed with EHOSTUNREACH, ENETUNREACH, EACCES or EPERM: an ICMP or ICMPv6 "
     "destination-unreachable (administratively prohibited) or a local firewall rule stopped "
     "the SYN"},
    {Cause::kClosedPortDropped, "closed_port_dropped",
     "closed ports are dropped (DROP policy), not rejected", Toward::kEither,
     "a SYN to a closed port should be answered by a RST at once; it timed out instead, while "
     "connections to open ports worked"},
    {Cause::kResetsDropped, "resets_dropped", "resets are dropped by a firewall or load balancer",
     Toward::kInitiator,
     "every scenario in which the responder's host sends a RST timed out or ended with FIN "
     "alone: the RST never arrived"},
    {Cause::kResetsToFin, "resets_to_fin", "an L4/L7 proxy converts resets into FIN",
     Toward::kInitiator,
     "the responder reset the connection but the initiator saw an orderly FIN: a proxy "
     "terminates TCP and closes its own side gracefully"},
    {Cause::kResetInsteadOfFin, "reset_instead_of_fin",
     "a proxy or middlebox resets instead of closing", Toward::kInitiator,
     "the responder closed with FIN after sending everything, but the initiator saw a RST"},
    {Cause::kNoHalfClose, "no_half_close", "the path does not support half-close", Toward::kEither,
     "after the initiator's FIN the responder's answer never arrived: something on the path "
     "closed both directions on the first FIN"},
    {Cause::kIdleReset, "idle_reset",
     "an idle timer expired and the path reset the next packet (AWS NLB style)", Toward::kInitiator,
     "only connections that idled were reset, by something on the path, when they sent again"},
    {Cause::kIdleDrop, "idle_drop",
     "an idle timer expired and the path dropped the flow silently (Azure LB / GCP firewall "
     "style)",
     Toward::kEither,
     "only connections that idled lost their packets afterwards: the path forgot the flow"},
    {Cause::kForgedReset, "forged_reset", "a middlebox forged a reset mid-connection",
     Toward::kInitiator,
     "an end saw a RST in the middle of a transfer that its peer reports it never sent, in "
     "scenarios that do not idle"},
    {Cause::kHostLostState, "host_lost_state",
     "the responder's host lost the connection mid-test (crashed and rebooted)", Toward::kInitiator,
     "the responder's agent went away mid-test and the initiator's next segment met a host "
     "without the socket"},
    {Cause::kUnexplained, "unexplained", "a deviation no cause of the catalogue predicts",
     Toward::kEither, "the observed closure matches none of the causes rstmesh knows"},
}};

// connect() meets the path the same way in every scenario.
void ConnectEffects(const ScenarioDef& def, std::vector<CauseEffect>& out) {
  out.push_back(
      {Cause::kUnreachable, v1::CLOSURE_TIMEOUT, Certainty::kAlways, CauseEffect::kAtConnect});
  out.push_back(
      {Cause::kProhibited, v1::CLOSURE_UNREACHABLE, Certainty::kAlways, CauseEffect::kAtConnect});
  // A refusal of a closed port is what Linux predicts anyway.
  if (!def.targets_closed_port) {
    out.push_back(
        {Cause::kPathRefuses, v1::CLOSURE_REFUSED, Certainty::kAlways, CauseEffect::kAtConnect});
  }
}

}  // namespace

const CauseDef& CauseOf(Cause cause) { return kCauses[static_cast<size_t>(cause)]; }
std::span<const CauseDef> AllCauses() { return kCauses; }

uint16_t Symptom::Code() const {
  return static_cast<uint16_t>((observed & 0xf) | responder << 4 | at_connect << 5 | forged << 6 |
                               cut_short << 7 | peer_lost << 8);
}

Symptom Symptom::FromCode(uint16_t code) {
  Symptom s;
  s.observed = static_cast<v1::ClosureClass>(code & 0xf);
  s.responder = (code >> 4) & 1;
  s.at_connect = (code >> 5) & 1;
  s.forged = (code >> 6) & 1;
  s.cut_short = (code >> 7) & 1;
  s.peer_lost = (code >> 8) & 1;
  return s;
}

bool Matches(const CauseEffect& effect, const Symptom& symptom) {
  if (symptom.responder || symptom.peer_lost || symptom.observed != effect.observed) {
    return false;
  }
  switch (effect.when) {
    case CauseEffect::kAny:
      return true;
    case CauseEffect::kAtConnect:
      return symptom.at_connect;
    case CauseEffect::kAfterConnect:
      return !symptom.at_connect;
    case CauseEffect::kCutShort:
      return !symptom.at_connect && symptom.cut_short;
    case CauseEffect::kWhole:
      return !symptom.at_connect && !symptom.cut_short;
    case CauseEffect::kForged:
      return !symptom.at_connect && symptom.cut_short && symptom.forged;
  }
  return false;
}

std::vector<CauseEffect> EffectsOn(const ScenarioDef& def) {
  std::vector<CauseEffect> out;
  ConnectEffects(def, out);
  out.insert(out.end(), def.effects.begin(), def.effects.end());
  return out;
}

int Breadth(Cause cause) {
  static const std::array<int, kCauseCount> breadth = [] {
    std::array<int, kCauseCount> b{};
    for (const ScenarioDef* def : AllScenarios()) {
      std::array<bool, kCauseCount> seen{};
      for (const CauseEffect& e : EffectsOn(*def)) seen[static_cast<size_t>(e.cause)] = true;
      for (int i = 0; i < kCauseCount; ++i) b[i] += seen[i];
    }
    b[static_cast<size_t>(Cause::kUnexplained)] = 1'000;
    return b;
  }();
  return breadth[static_cast<size_t>(cause)];
}

Cause NarrowestCause(const ScenarioDef& def, const Symptom& symptom) {
  if (symptom.peer_lost) return Cause::kHostLostState;
  Cause best = Cause::kUnexplained;
  for (const CauseEffect& e : EffectsOn(def)) {
    if (Matches(e, symptom) && Breadth(e.cause) < Breadth(best)) best = e.cause;
  }
  return best;
}

}  // namespace rstmesh
