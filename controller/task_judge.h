// Joins both ends' observations of one task and judges them: PASS, DEVIATION with a
// diagnosis from the catalogue's table of what the path can change, or INCONCLUSIVE.
// Only the two-ended view can tell a reset the peer sent from one the path forged.
#pragma once

#include <optional>

#include "controller/store.h"
#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

// `initiator` / `responder` are the stored observations, if any arrived. `task.state`
// says whether the task timed out or lost an agent.
v1::TaskResult JudgeTask(const TaskRecord& task, const std::optional<v1::Observation>& initiator,
                         const std::optional<v1::Observation>& responder);
// The same, moving the observations into the result instead of copying them.
v1::TaskResult JudgeTask(const TaskRecord& task, std::optional<v1::Observation>&& initiator,
                         std::optional<v1::Observation>&& responder);

}  // namespace rstmesh
