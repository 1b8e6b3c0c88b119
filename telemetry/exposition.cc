#include "telemetry/exposition.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "telemetry/build_info.h"

namespace rstmesh {

void Exposition::Family(absl::string_view name, absl::string_view type, absl::string_view help) {
  absl::StrAppend(&out_, "# HELP ", name, " ",
                  absl::StrReplaceAll(help, {{"\\", "\\\\"}, {"\n", "\\n"}}), "\n# TYPE ", name,
                  " ", type, "\n");
}

void Exposition::Name(absl::string_view name, const MetricLabels& labels) {
  out_.append(name.data(), name.size());
  if (labels.empty()) return;
  out_.push_back('{');
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_.push_back(',');
    first = false;
    absl::StrAppend(&out_, key, "=\"",
                    absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}),
                    "\"");
  }
  out_.push_back('}');
}

void Exposition::Sample(absl::string_view name, const MetricLabels& labels, uint64_t value) {
  Name(name, labels);
  absl::StrAppend(&out_, " ", value, "\n");
}

void Exposition::Sample(absl::string_view name, const MetricLabels& labels, double value) {
  Name(name, labels);
  if (std::isinf(value)) {
    absl::StrAppend(&out_, value > 0 ? " +Inf\n" : " -Inf\n");
  } else if (std::isnan(value)) {
    absl::StrAppend(&out_, " NaN\n");
  } else {
    absl::StrAppend(&out_, " ", value, "\n");
  }
}

absl::string_view BuildVersion() { return kBuildVersion; }
absl::string_view BuildCommit() { return kBuildCommit; }

std::string VersionLine(absl::string_view program) {
  return absl::StrCat(program, " ", kBuildVersion, " (commit ", kBuildCommit, ")");
}

void WriteBuildInfo(Exposition& out) {
  out.Family("rstmesh_build_info", "gauge",
             "Always 1: the version and git commit this process was built from.");
  out.Sample("rstmesh_build_info", {{"version", kBuildVersion}, {"commit", kBuildCommit}},
             uint64_t{1});
}

}  // namespace rstmesh
