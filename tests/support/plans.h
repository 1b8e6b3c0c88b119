// Plans tests run, derived from the catalogue: "every scenario" is what core/scenarios/ holds,
// with each scenario's demo parameters.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/scenario.h"

namespace rstmesh::testing {

// The `scenarios:` block of a YAML plan: every scenario, `repetitions` per pair.
inline std::string EveryScenarioYaml(uint32_t repetitions = 1) {
  std::string out = "scenarios:\n";
  for (const ScenarioDef* def : AllScenarios()) {
    absl::StrAppend(&out, "  - {name: ", def->name, ", repetitions: ", repetitions);
    const v1::ScenarioParams& p = def->demo;
    std::string params;
    auto field = [&](const char* name, uint32_t value) {
      if (value != 0) absl::StrAppend(&params, params.empty() ? "" : ", ", name, ": ", value);
    };
    field("request_bytes", p.request_bytes());
    field("response_bytes", p.response_bytes());
    field("idle_ms", p.idle_ms());
    field("read_limit", p.read_limit());
    if (!params.empty()) absl::StrAppend(&out, ", params: {", params, "}");
    absl::StrAppend(&out, "}\n");
  }
  return out;
}

// How many scenarios "every scenario" is.
inline uint32_t ScenarioCount() { return static_cast<uint32_t>(AllScenarios().size()); }

}  // namespace rstmesh::testing
