// Histogram: a Prometheus histogram over fixed bucket bounds, counted with relaxed atomics
// so that hot paths (every observation ingested) pay a few instructions and no lock.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>
#include "absl/strings/string_view.h"

#include "telemetry/exposition.h"

namespace rstmesh {

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds in the exported unit, ascending (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  // Writes the _bucket, _sum and _count series of family `name` (its HELP/TYPE written by
  // the caller) with `labels` added to each.
  void Write(Exposition& out, absl::string_view name, const MetricLabels& labels = {}) const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // non-cumulative; the last is +Inf
  std::atomic<double> sum_{0};
};

// Bounds from `start`, each `factor` times the one before: `count` of them.
std::vector<double> ExponentialBounds(double start, double factor, int count);

}  // namespace rstmesh
