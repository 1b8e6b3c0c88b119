// rstmeshctl diff: what changed between two audits (controller/findings_diff.h), as a table
// or JSON.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/findings_diff.h"
#include "rstmesh/v1/control.pb.h"

namespace rstmesh {

// table or json; kInvalidArgument for any other format.
absl::StatusOr<std::string> RenderDiff(const v1::Report& a, const v1::Report& b,
                                       const FindingsDiff& diff, const std::string& format);

}  // namespace rstmesh
