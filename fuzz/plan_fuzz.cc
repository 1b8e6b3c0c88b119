// libFuzzer: plans as operators write them (YAML or JSON): parse, validate against a small
// fleet, and expand the ones that are valid and small.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "controller/plan_expander.h"
#include "controller/plan_parser.h"
#include "controller/plan_validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rstmesh;
  static const std::vector<v1::AgentInfo> fleet = [] {
    std::vector<v1::AgentInfo> agents;
    for (int i = 0; i < 6; ++i) {
      v1::AgentInfo a;
      a.set_id(absl::StrCat("node-", i));
      (*a.mutable_labels())["zone"] = absl::StrCat("z", i % 3);
      a.set_data_endpoint(absl::StrCat("127.0.0.", i + 1, ":7402"));
      agents.push_back(a);
    }
    return agents;
  }();
  absl::StatusOr<v1::Plan> plan =
      ParsePlan(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!plan.ok()) return 0;
  if (!ValidatePlan(*plan, fleet).ok()) return 0;
  if (CountTasks(*plan, fleet) <= 10'000) ExpandPlan(*plan, fleet);
  return 0;
}
