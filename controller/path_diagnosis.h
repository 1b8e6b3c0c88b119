// The differential diagnosis of one path (an ordered agent pair): from what every scenario
// run on it showed, the causes of the catalogue (core/causes.h) that together explain every
// deviation, each with the scenarios it explains. One cause that explains the path's
// deviations in several scenarios is one finding, not one per scenario; a cause is ruled out
// by a scenario it always changes that only passed on the path.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/causes.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

// One scenario on one path.
struct ScenarioTally {
  v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
  uint32_t pass = 0;
  uint32_t deviated = 0;
  // The deviating tasks' symptoms (Symptom::Code) and how many showed each.
  std::vector<std::pair<uint16_t, uint32_t>> symptoms;
};

struct PathCause {
  Cause cause = Cause::kUnexplained;
  // (scenario, symptom code) pairs it explains: every pair of the path is in exactly one
  // PathCause.
  std::vector<std::pair<v1::Scenario, uint16_t>> explains;
  // Causes that explain as many of the same scenarios and are not ruled out either.
  std::vector<Cause> also;
};

// `ruled_out`: causes the caller knows did not act on this path (an idle timer, when a
// connection that idled longer than a reset one survived).
std::vector<PathCause> DiagnosePath(std::span<const ScenarioTally> tallies,
                                    std::span<const Cause> ruled_out = {});

// The scenarios, not run on the path, in which `a` and `b` would show differently: what to
// run to tell them apart ("abortive_close, reset_mid_transfer").
std::string WhatTellsApart(Cause a, Cause b, std::span<const ScenarioTally> tallies);

}  // namespace rstmesh
