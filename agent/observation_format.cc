#include "agent/observation_format.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/closure.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

std::string ScenarioLabel(v1::Scenario id) {
  const ScenarioDef* def = FindScenario(id);
  return def != nullptr ? std::string(def->name) : absl::StrCat("scenario#", id);
}

std::string Verdict(const v1::Observation& obs) {
  if (obs.matched()) return "ok";
  if (IsUnsupported(obs)) return "UNSUPPORTED";
  return "DEVIATION";
}

}  // namespace

std::string ObservationJson(const v1::Observation& obs) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(obs, &json, options).ok()) return "{}";
  return json;
}

std::string ObservationTableHeader() {
  return absl::StrFormat("%-20s %-10s %-24s %-13s %-13s %-12s %-8s %-8s %9s %9s %10s  %s", "TASK",
                         "ROLE", "SCENARIO", "EXPECTED", "OBSERVED", "ERRNO", "STAGE", "ACTION",
                         "BYTES_OUT", "BYTES_IN", "TIME", "RESULT");
}

std::string ObservationTableRow(const v1::Observation& obs) {
  std::string row = absl::StrFormat(
      "%-20d %-10s %-24s %-13s %-13s %-12s %-8s %-8s %9d %9d %8.1fms  %s", obs.task_id(),
      RoleName(obs.role()), ScenarioLabel(obs.scenario()), ClosureName(obs.expected()),
      ClosureName(obs.observed()), obs.error_name().empty() ? "-" : obs.error_name(),
      StageName(obs.stage()), ActionName(obs.action()), obs.bytes_sent(), obs.bytes_received(),
      obs.time_to_observe_us() / 1000.0, Verdict(obs));
  if (!obs.matched() && !obs.detail().empty()) absl::StrAppend(&row, ": ", obs.detail());
  return row;
}

}  // namespace rstmesh
