// Where a finding is: the smallest elements of the fleet that explain the set of paths
// showing it. A place explains paths when every tested path it holds shows the finding:
// one host (the paths it opens, the paths into it, or both), one label value or pair of
// values (zone, rack, or any label the agents carry), or the whole fleet. The paths are
// covered by as few places as possible, the largest first; what no place holds is named
// path by path.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "core/causes.h"
#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

// An ordered agent pair by the agents' indices.
struct PathKey {
  uint32_t source;
  uint32_t target;
  uint64_t raw() const { return uint64_t{source} << 32 | target; }
  static PathKey FromRaw(uint64_t raw) {
    return {static_cast<uint32_t>(raw >> 32), static_cast<uint32_t>(raw)};
  }
};

struct FleetAgents {
  std::vector<std::string> ids;                            // by index
  std::vector<std::map<std::string, std::string>> labels;  // by index
};

// At most this many places per finding; the rest are counted in the last one's text.
inline constexpr size_t kMaxPlaces = 12;

// `showing` must be a subset of `tested`. `toward` words the direction of the packets.
std::vector<v1::Place> PlacesOf(const std::vector<PathKey>& showing,
                                const absl::flat_hash_set<uint64_t>& tested,
                                const FleetAgents& agents, Toward toward);

}  // namespace rstmesh
