// The causes a finding can name: what a path (or a host) did to the test connections, and
// how each scenario shows it. A scenario's own file lists what each cause does to it
// (ScenarioDef::effects); what a path does to connect() is the same for every scenario and
// is listed once, in causes.cc. docs/scenarios.md explains each cause.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/strings/string_view.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

struct ScenarioDef;

enum class Cause : uint8_t {
  kUnreachable,        // SYNs (or their answers) vanish: a blackhole
  kPathRefuses,        // something on the path answers SYNs to a listening port with a RST
  kProhibited,         // ICMP/ICMPv6 unreachable or administratively prohibited
  kClosedPortDropped,  // SYNs to a closed port are dropped instead of answered
  kResetsDropped,      // resets never arrive
  kResetsToFin,        // a proxy ends with FIN where the peer reset
  kResetInsteadOfFin,  // a proxy ends with RST where the peer closed
  kNoHalfClose,        // a proxy closes both directions on the first FIN
  kIdleReset,          // an idle timer expired; the next packet met a RST
  kIdleDrop,           // an idle timer expired; the flow's packets vanish
  kForgedReset,        // a middlebox sent a RST in the peer's name mid-connection
  kHostLostState,      // the responder's host lost the connection (crash and reboot)
  kUnexplained,        // no cause of the catalogue predicts what was seen
};
inline constexpr int kCauseCount = static_cast<int>(Cause::kUnexplained) + 1;

// Which way the packets a cause acts on travel between the two ends of a test connection.
enum class Toward : uint8_t { kResponder, kInitiator, kEither };

struct CauseDef {
  Cause cause;
  absl::string_view id;     // "resets_dropped": what JSON and metrics say
  absl::string_view title;  // the finding in plain words
  Toward toward;
  absl::string_view why;  // one sentence: what happened on the wire
};

const CauseDef& CauseOf(Cause cause);
std::span<const CauseDef> AllCauses();

// What a deviating end of one task showed, in the terms causes predict.
struct Symptom {
  v1::ClosureClass observed = v1::CLOSURE_NONE;
  bool responder = false;   // the responder's view deviated, the initiator's did not
  bool at_connect = false;  // connect() itself failed
  bool forged = false;      // a RST its peer reports it never sent
  bool cut_short = false;   // fewer application bytes arrived than the peer sends
  bool peer_lost = false;   // the responder's host lost the connection mid-test

  // A small number, for counting symptoms in bounded memory.
  uint16_t Code() const;
  static Symptom FromCode(uint16_t code);
  bool operator==(const Symptom&) const = default;
};

enum class Certainty : uint8_t {
  kAlways,  // every task of the scenario shows it: a pass rules the cause out
  kMay,     // depends on timing, sizes or the device: a pass says nothing
};

// What one cause does to one scenario: the symptom the initiator sees. `when` narrows it.
struct CauseEffect {
  enum When : uint8_t {
    kAny,
    kAtConnect,     // connect() failed
    kAfterConnect,  // the connection was up
    kCutShort,      // after connect, before all of the peer's bytes arrived
    kWhole,         // after all of the peer's bytes arrived
    kForged,        // a forged RST that cut the transfer short
  };
  Cause cause;
  v1::ClosureClass observed;
  Certainty certainty = Certainty::kAlways;
  When when = kAfterConnect;
};

bool Matches(const CauseEffect& effect, const Symptom& symptom);

// Every effect on `def`: the connect-stage causes' and the scenario's own.
std::vector<CauseEffect> EffectsOn(const ScenarioDef& def);

// How many scenarios of the catalogue a cause affects: the smaller, the more specific.
int Breadth(Cause cause);

// The most specific cause that predicts `symptom` in `def`, or kUnexplained.
Cause NarrowestCause(const ScenarioDef& def, const Symptom& symptom);

}  // namespace rstmesh
