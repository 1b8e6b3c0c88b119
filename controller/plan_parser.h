// Reads a plan written in YAML or JSON into the rstmesh.v1.Plan message, one-to-one: every
// key is a field of the message, every value must have the field's type. Errors name the
// field path and the reason ("scenarios[2].repetitions: expected an unsigned integer, got
// '-3'"). The result is only well-formed; ValidatePlan (plan_validator.h) checks meaning.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rstmesh/v1/plan.pb.h"

namespace rstmesh {

inline constexpr size_t kMaxPlanBytes = 1 << 20;

// kInvalidArgument naming the field path, or the line and column of a syntax error.
absl::StatusOr<v1::Plan> ParsePlan(absl::string_view text);

// The same for any message type (used for plans; exposed for tests and other documents).
absl::Status ParseYamlInto(absl::string_view text, google::protobuf::Message* message);

}  // namespace rstmesh
