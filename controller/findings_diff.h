// What changed between two audits: the findings of run B against those of run A, one item
// per cause and place (a finding at two places is two items), as new, resolved or unchanged.
// rstmeshctl diff renders it (cli/report_diff.h); continuous audits count it per audit.
#pragma once

#include <string>
#include <vector>

#include "rstmesh/v1/control.pb.h"

namespace rstmesh {

struct FindingItem {
  std::string key;     // cause and place, what two audits are compared by
  std::string text;    // "resets are dropped by a firewall or load balancer at zone z1 <-> z2"
  std::string detail;  // the scenarios and counts of the run it is from
};

struct FindingsDiff {
  std::vector<FindingItem> added;      // in B, not in A
  std::vector<FindingItem> resolved;   // in A, not in B
  std::vector<FindingItem> unchanged;  // in both (detail from B)
  std::vector<std::string> warnings;   // the runs are not comparable as they should be
};

FindingsDiff DiffFindings(const v1::Report& a, const v1::Report& b);

}  // namespace rstmesh
