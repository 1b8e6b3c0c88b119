#include "controller/idle_discovery.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/wire_header.h"

namespace rstmesh {

v1::IdleDiscovery ResolveIdleDiscovery(const v1::IdleDiscovery& plan) {
  v1::IdleDiscovery d = plan;
  if (d.min_idle_ms() == 0) d.set_min_idle_ms(1000);
  if (d.max_idle_ms() == 0) d.set_max_idle_ms(kRfc5382IdleMs);
  if (d.resolution_pct() == 0) d.set_resolution_pct(10);
  if (d.probes_per_round() == 0) d.set_probes_per_round(8);
  if (d.max_connections() == 0) d.set_max_connections(4 * d.probes_per_round());
  return d;
}

IdleProbe ProbeFromObservation(const v1::ScenarioParams& params, const v1::Observation* initiator,
                               bool task_ended) {
  IdleProbe probe;
  probe.idle_ms = params.idle_ms();
  probe.round = params.probe_round();
  if (initiator == nullptr) {
    probe.result = task_ended ? ProbeResult::kInconclusive : ProbeResult::kPending;
    return probe;
  }
  const bool request_sent = initiator->bytes_sent() > kHeaderSize;
  probe.result = ProbeResult::kExpired;
  if (initiator->observed() == v1::CLOSURE_FIN && initiator->matched()) {
    probe.result = ProbeResult::kSurvived;
  } else if (initiator->observed() == v1::CLOSURE_RST) {
    probe.expiry =
        request_sent ? v1::IDLE_EXPIRY_RESET_NEXT_PACKET : v1::IDLE_EXPIRY_RESET_WHILE_IDLE;
  } else if (initiator->observed() == v1::CLOSURE_TIMEOUT && request_sent) {
    probe.expiry = v1::IDLE_EXPIRY_SILENT_DROP;
  } else if (initiator->observed() == v1::CLOSURE_FIN && !request_sent) {
    probe.expiry = v1::IDLE_EXPIRY_FIN_WHILE_IDLE;
  } else {
    // Refused, unreachable, a local error: says nothing about the idle timer.
    probe.result = ProbeResult::kInconclusive;
  }
  return probe;
}

namespace {

// n idle times spaced geometrically strictly inside (lo, hi) (lo 0: from hi / 2^...),
// rounded to milliseconds, without duplicates.
std::vector<uint32_t> Inside(uint32_t lo, uint32_t hi, uint32_t n) {
  std::vector<uint32_t> out;
  const double ratio = static_cast<double>(hi) / lo;
  for (uint32_t i = 1; i <= n; ++i) {
    auto v = static_cast<uint32_t>(std::lround(lo * std::pow(ratio, double(i) / (n + 1))));
    if (v > lo && v < hi && (out.empty() || v > out.back())) out.push_back(v);
  }
  return out;
}

std::string Behaviour(v1::IdleExpiry expiry) {
  switch (expiry) {
    case v1::IDLE_EXPIRY_RESET_NEXT_PACKET:
      return "then the path resets the next packet (AWS NLB style)";
    case v1::IDLE_EXPIRY_RESET_WHILE_IDLE:
      return "then the path resets the idle connection (reset at expiry)";
    case v1::IDLE_EXPIRY_SILENT_DROP:
      return "then the path drops the flow silently (Azure LB / GCP firewall style)";
    case v1::IDLE_EXPIRY_FIN_WHILE_IDLE:
      return "then the path closes the connection with FIN (a proxy's idle timeout)";
    default:
      return "";
  }
}

// Against the estimate: a timer found just under the ladder's top is still a short one.
std::string Rfc5382(uint32_t estimate_ms) {
  if (estimate_ms >= kRfc5382IdleMs) return "meets RFC 5382 REQ-5 (at least 7440 s)";
  const double factor = double(kRfc5382IdleMs) / std::max<uint32_t>(estimate_ms, 1);
  const std::string times =
      factor < 10 ? absl::StrFormat("%.1f", factor) : absl::StrFormat("%.0f", factor);
  return absl::StrCat(times, "x shorter than RFC 5382 REQ-5's 7440 s");
}

}  // namespace

std::vector<uint32_t> IdleLadder(const v1::IdleDiscovery& d) {
  const uint32_t n = d.probes_per_round();
  std::vector<uint32_t> out{d.min_idle_ms()};
  if (n >= 2 && d.max_idle_ms() > d.min_idle_ms()) {
    std::vector<uint32_t> inside = Inside(d.min_idle_ms(), d.max_idle_ms(), n - 2);
    out.insert(out.end(), inside.begin(), inside.end());
    out.push_back(d.max_idle_ms());
  }
  return out;
}

IdleSearchStep AdvanceIdleSearch(const v1::IdleDiscovery& d, const std::vector<IdleProbe>& probes) {
  IdleSearchStep step;
  v1::IdleTimeout& r = step.result;
  r.set_state(v1::IDLE_SEARCH_RUNNING);
  r.set_connections(probes.size());
  if (probes.empty()) {
    step.next = IdleLadder(d);
    step.next_round = 1;
    return step;
  }
  uint32_t rounds = 0;
  std::optional<uint32_t> hi;
  for (const IdleProbe& p : probes) {
    rounds = std::max(rounds, p.round);
    if (p.result == ProbeResult::kExpired && (!hi || p.idle_ms < *hi)) hi = p.idle_ms;
    if (p.result == ProbeResult::kInconclusive) r.set_inconclusive(r.inconclusive() + 1);
  }
  r.set_rounds(rounds);
  uint32_t lo = 0;
  bool pending_inside = false;
  std::map<v1::IdleExpiry, int> expiries;
  for (const IdleProbe& p : probes) {
    if (p.result == ProbeResult::kSurvived) {
      if (!hi || p.idle_ms < *hi) {
        lo = std::max(lo, p.idle_ms);
      } else {
        r.set_non_monotonic(r.non_monotonic() + 1);
      }
    }
    if (p.result == ProbeResult::kExpired) ++expiries[p.expiry];
  }
  for (const IdleProbe& p : probes) {
    if (p.result == ProbeResult::kPending && p.idle_ms > lo && (!hi || p.idle_ms < *hi)) {
      pending_inside = true;
    }
  }
  // The behaviour most probes showed; on a tie, the one at the bracket's upper end.
  v1::IdleExpiry expiry = v1::IDLE_EXPIRY_UNSPECIFIED;
  int best = 0;
  for (const IdleProbe& p : probes) {
    if (p.result != ProbeResult::kExpired) continue;
    int count = expiries[p.expiry];
    if (count > best || (count == best && p.idle_ms == *hi)) {
      best = count;
      expiry = p.expiry;
    }
  }
  r.set_expiry(expiry);
  r.set_lower_ms(lo);
  r.set_upper_ms(hi.value_or(0));
  if (lo > 0 && hi) {
    r.set_estimate_ms((lo + *hi) / 2);
    r.set_plus_minus_ms((*hi - lo + 1) / 2);
  }
  if (pending_inside) return step;  // the bracket may still move

  if (!hi) {
    if (lo == 0) {
      r.set_state(v1::IDLE_SEARCH_INCONCLUSIVE);
      r.set_summary(absl::StrCat("no answer: ", r.inconclusive(), " of ", probes.size(),
                                 " probes ended without telling"));
    } else {
      r.set_state(v1::IDLE_SEARCH_ABOVE_MAX);
      r.set_summary(absl::StrCat("no idle timeout up to ", FormatIdle(lo), "; ",
                                 lo >= kRfc5382IdleMs
                                     ? Rfc5382(lo)
                                     : "RFC 5382 REQ-5 (7440 s) not checked: the longest probe was "
                                       "shorter"));
    }
    return step;
  }
  if (lo == 0) {
    r.set_state(v1::IDLE_SEARCH_BELOW_MIN);
    r.set_summary(absl::StrCat("idle timeout shorter than ", FormatIdle(*hi), ", ",
                               Behaviour(expiry), "; ", Rfc5382(*hi)));
    return step;
  }
  // Resolved when half the bracket is within resolution_pct of its middle.
  const bool resolved = 100.0 * (*hi - lo) <= d.resolution_pct() * double(*hi + lo);
  if (!resolved) {
    const uint32_t left = d.max_connections() > probes.size()
                              ? d.max_connections() - static_cast<uint32_t>(probes.size())
                              : 0;
    step.next = Inside(lo, *hi, std::min(left, d.probes_per_round()));
    if (!step.next.empty()) {
      step.next_round = rounds + 1;
      return step;
    }
  }
  r.set_state(resolved ? v1::IDLE_SEARCH_FOUND : v1::IDLE_SEARCH_UNRESOLVED);
  r.set_summary(absl::StrCat(
      "idle timeout ", FormatIdle(r.estimate_ms()), " +- ", FormatIdle(r.plus_minus_ms()),
      " (survived ", FormatIdle(lo), ", expired at ", FormatIdle(*hi), ")",
      resolved ? "" : absl::StrCat(", resolution not reached in ", probes.size(), " connections"),
      ", ", Behaviour(expiry), "; ", Rfc5382(r.estimate_ms())));
  return step;
}

std::string FormatIdle(uint32_t ms) {
  if (ms < 10'000) return absl::StrFormat("%.2f s", ms / 1000.0);
  if (ms < 100'000) return absl::StrFormat("%.1f s", ms / 1000.0);
  if (ms < 3'600'000) return absl::StrFormat("%.0f s", ms / 1000.0);
  return absl::StrFormat("%d s (%d h %d min)", ms / 1000, ms / 3'600'000, ms / 60'000 % 60);
}

std::string IdleTimeoutText(const v1::IdleTimeout& t, const std::string& plus_minus) {
  if (t.estimate_ms() > 0) {
    return absl::StrCat(FormatIdle(t.estimate_ms()), " ", plus_minus, " ",
                        FormatIdle(t.plus_minus_ms()));
  }
  if (t.state() == v1::IDLE_SEARCH_ABOVE_MAX) return absl::StrCat("> ", FormatIdle(t.lower_ms()));
  if (t.state() == v1::IDLE_SEARCH_BELOW_MIN) return absl::StrCat("< ", FormatIdle(t.upper_ms()));
  return "-";
}

std::string IdleExpiryName(v1::IdleExpiry expiry) {
  switch (expiry) {
    case v1::IDLE_EXPIRY_RESET_NEXT_PACKET:
      return "reset_next_packet";
    case v1::IDLE_EXPIRY_RESET_WHILE_IDLE:
      return "reset_while_idle";
    case v1::IDLE_EXPIRY_SILENT_DROP:
      return "silent_drop";
    case v1::IDLE_EXPIRY_FIN_WHILE_IDLE:
      return "fin_while_idle";
    default:
      return "";
  }
}

std::string IdleSearchStateName(v1::IdleSearchState state) {
  switch (state) {
    case v1::IDLE_SEARCH_RUNNING:
      return "running";
    case v1::IDLE_SEARCH_FOUND:
      return "found";
    case v1::IDLE_SEARCH_UNRESOLVED:
      return "unresolved";
    case v1::IDLE_SEARCH_ABOVE_MAX:
      return "above_max";
    case v1::IDLE_SEARCH_BELOW_MIN:
      return "below_min";
    case v1::IDLE_SEARCH_INCONCLUSIVE:
      return "inconclusive";
    default:
      return "";
  }
}

}  // namespace rstmesh
