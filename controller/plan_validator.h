// Checks what a plan means against the registered agents: known scenarios and valid
// parameters, a pattern that fits the selected agents, limits in range, a run of bounded
// size. Every problem is reported, each on its own line as "field.path: reason".
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "rstmesh/v1/plan.pb.h"

namespace rstmesh {

// A full mesh of every scenario over 1,000 agents (8,991,000 tasks) fits: the controller
// holds about 24 bytes per task of a live run (docs/run-engine.md).
inline constexpr uint64_t kMaxTasksPerRun = 10'000'000;

// OK, or kInvalidArgument listing every problem; kFailedPrecondition when the plan is fine
// but the registered agents cannot run it (selector matches fewer than two).
absl::Status ValidatePlan(const v1::Plan& plan, const std::vector<v1::AgentInfo>& registered);

}  // namespace rstmesh
