// Exposition: writes the Prometheus text format (0.0.4) that /metrics serves, for the
// controller and the agents alike. A family's HELP and TYPE come once, before its samples;
// label values are escaped; values are integers or doubles as Prometheus reads them.
//
// Not thread-safe: one writer per scrape.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

namespace rstmesh {

using MetricLabels = std::vector<std::pair<absl::string_view, absl::string_view>>;

class Exposition {
 public:
  // Starts a family: `type` is counter, gauge or histogram. Names follow Prometheus'
  // rules: base units, counters end in _total, durations in _seconds.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  void Sample(absl::string_view name, const MetricLabels& labels, uint64_t value);
  void Sample(absl::string_view name, const MetricLabels& labels, double value);
  void Sample(absl::string_view name, uint64_t value) { Sample(name, {}, value); }
  // A family of one unlabelled sample.
  void Single(absl::string_view name, absl::string_view type, absl::string_view help,
              uint64_t value) {
    Family(name, type, help);
    Sample(name, value);
  }

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Name(absl::string_view name, const MetricLabels& labels);
  std::string out_;
};

// The version of these binaries and the git commit they were built from ("unknown"
// outside a git checkout), as `--version` prints them and build_info exports them.
absl::string_view BuildVersion();
absl::string_view BuildCommit();
// "rstmesh-controller 0.1.0 (commit 1a2b3c4)".
std::string VersionLine(absl::string_view program);
// rstmesh_build_info{version,commit} 1.
void WriteBuildInfo(Exposition& out);

}  // namespace rstmesh
