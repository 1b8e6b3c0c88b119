// A run's line in `rstmeshctl runs`, parsed: what fault tests wait on and check.
#pragma once

#include <regex>
#include <string>

namespace rstmesh::testing {

struct Tally {
  std::string state;
  long done = -1, total = -1, pass = -1, deviation = -1, inconclusive = -1;
  std::string owner;  // replicated controllers: the owning replica's id ("" if not shown)
};

// "run-1 (x): running, 12/40 tasks: 12 pass, 0 deviation, 0 inconclusive; owner r2-1a2b3c; ..."
inline Tally ParseTally(const std::string& text) {
  Tally t;
  std::smatch m;
  if (std::regex_search(text, m,
                        std::regex(R"(: (\w+), (\d+)/(\d+) tasks: (\d+) pass, (\d+) deviation, )"
                                   R"((\d+) inconclusive)"))) {
    t.state = m[1];
    t.done = std::stol(m[2]);
    t.total = std::stol(m[3]);
    t.pass = std::stol(m[4]);
    t.deviation = std::stol(m[5]);
    t.inconclusive = std::stol(m[6]);
  }
  if (std::regex_search(text, m, std::regex(R"(; owner ([^;\s]+))"))) t.owner = m[1];
  return t;
}

}  // namespace rstmesh::testing
