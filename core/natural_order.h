// Natural order for names with numbers: "agent-2" before "agent-10". Reports and findings
// list agents, zones and places in it.
#pragma once

#include <string>

namespace rstmesh {

struct NaturalLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

}  // namespace rstmesh
