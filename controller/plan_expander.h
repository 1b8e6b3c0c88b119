// Turns a valid plan into the tasks of a run: which agents take part (the selector), who
// tests whom (the pattern), which scenarios how often. Deterministic: the same plan, seed
// and agents give the same tasks in the same order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/scenario.h"
#include "rstmesh/v1/plan.pb.h"

namespace rstmesh {

struct PlannedTask {
  std::string source;  // initiator agent id
  std::string target;  // responder agent id
  v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
  v1::ScenarioParams params;  // resolved: no zero that means "default" is left
  uint32_t repetition = 0;    // 0-based
};

// The agents the selector picks, sorted by id.
std::vector<v1::AgentInfo> SelectAgents(const v1::Selector& selector,
                                        const std::vector<v1::AgentInfo>& registered);

// Ordered (source, target) pairs of the pattern over `agents` (sorted by id). The zone label
// defaults to "zone".
std::vector<std::pair<std::string, std::string>> PatternPairs(
    const v1::Pattern& pattern, const std::vector<v1::AgentInfo>& agents);

// An idle discovery probe: idle_hold's defaults with this idle time and search round.
v1::ScenarioParams IdleProbeParams(uint32_t idle_ms, uint32_t round);

// Every task of the plan: pairs x scenarios x repetitions (idle discovery: the ladder). The plan
// must be valid (ValidatePlan); repetitions 0 counts as 1.
std::vector<PlannedTask> ExpandPlan(const v1::Plan& plan,
                                    const std::vector<v1::AgentInfo>& registered);

// How many tasks ExpandPlan would produce (idle discovery: at most), without building them.
uint64_t CountTasks(const v1::Plan& plan, const std::vector<v1::AgentInfo>& registered);

std::string ZoneLabel(const v1::Pattern& pattern);

}  // namespace rstmesh
