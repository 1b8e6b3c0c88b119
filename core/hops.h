// How far a packet came, from the TTL (IPv4) or hop limit (IPv6) it arrived with: senders
// start at 64 (Linux, most hosts), 128 (Windows) or 255 (network devices); each router on the
// way takes one off.
#pragma once

#include <cstdint>

namespace rstmesh {

inline int HopsTravelled(uint32_t ttl) {
  for (uint32_t initial : {64u, 128u, 255u}) {
    if (ttl <= initial) return static_cast<int>(initial - ttl);
  }
  return 0;
}

}  // namespace rstmesh
