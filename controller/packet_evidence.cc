#include "controller/packet_evidence.h"

#include "absl/strings/str_cat.h"
#include "core/hops.h"

namespace rstmesh {
namespace {

std::string Hops(int n) { return absl::StrCat(n, n == 1 ? " router hop" : " router hops"); }

}  // namespace

std::vector<std::string> PacketEvidence(const v1::Observation& obs, const std::string& role_name,
                                        const std::string& peer) {
  std::vector<std::string> out;
  if (!obs.has_evidence()) return out;
  const v1::PacketEvidence& ev = obs.evidence();
  if (ev.packets().empty()) {
    if (!ev.note().empty())
      out.push_back(absl::StrCat("the ", role_name, ": no packets (", ev.note(), ")"));
    return out;
  }
  const v1::PacketSeen* ending = nullptr;     // the RST, else the FIN, that reached this end
  const v1::PacketSeen* reference = nullptr;  // the peer's own SYN or SYN-ACK
  for (const v1::PacketSeen& p : ev.packets()) {
    if (!p.inbound()) continue;
    if (reference == nullptr && p.flags().find('S') != std::string::npos) reference = &p;
    if (p.flags().find('R') != std::string::npos &&
        (ending == nullptr || ending->flags().find('R') == std::string::npos)) {
      ending = &p;
    } else if (ending == nullptr && p.flags().find('F') != std::string::npos) {
      ending = &p;
    }
  }
  if (ending == nullptr) {
    out.push_back(absl::StrCat("the ", role_name, " received no RST or FIN (", ev.packets_size(),
                               " control segments captured)"));
    return out;
  }
  const std::string kind = ending->flags().find('R') != std::string::npos ? "RST" : "FIN";
  std::string what = absl::StrCat("the ", kind, " reached the ", role_name, " after ",
                                  Hops(HopsTravelled(ending->ttl())), " (TTL ", ending->ttl(),
                                  ", IP ID ", ending->ip_id(), ")");
  if (reference != nullptr) {
    const int ending_hops = HopsTravelled(ending->ttl());
    const int peer_hops = HopsTravelled(reference->ttl());
    absl::StrAppend(&what, ", ", peer, "'s own segments after ", Hops(peer_hops), " (TTL ",
                    reference->ttl(), ")");
    if (ending_hops < peer_hops) {
      const int hop = ending_hops + 1;
      absl::StrAppend(&what, ": sent by ",
                      hop == 1 ? std::string("the first router on the path")
                               : absl::StrCat("the router ", hop, " hops from the ", role_name),
                      ev.device().empty() ? "" : absl::StrCat(" (", ev.device(), ")"), ", not by ",
                      peer);
    } else if (ending_hops == peer_hops) {
      absl::StrAppend(&what, ": as far away as ", peer, "'s host");
    }
    // Where in the peer's stream the segment claimed to be.
    const uint32_t offset = ending->seq() - (reference->seq() + 1);
    absl::StrAppend(&what, "; its sequence number was ", offset, " bytes into ", peer,
                    "'s stream, the ", role_name, " had read ", obs.bytes_received());
  }
  out.push_back(std::move(what));
  return out;
}

}  // namespace rstmesh
