// Rolls judged tasks up into report cells: per (source, target, scenario), where source and
// target are agents or their label values (zone -> zone). Counts per verdict and per
// observed class, time-to-observe p50/p99, and the dominant diagnosis.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

// Time-to-observe values for percentiles in bounded memory: exact up to kExact values, then
// in logarithmic buckets 1/64 of a power of two wide (within 1.6 % of the exact rank).
class TimeQuantiles {
 public:
  static constexpr size_t kExact = 4096;
  void Add(int64_t us);
  // Nearest-rank percentile (0 < p <= 100); 0 when empty.
  int64_t Percentile(double p) const;

 private:
  static size_t Bucket(int64_t us);
  static int64_t LowerBound(size_t bucket);
  std::vector<int64_t> exact_;
  std::vector<uint64_t> buckets_;  // once more than kExact values came
  uint64_t count_ = 0;
};

// Rolls judged tasks into cells one at a time: memory grows with the cells, not the tasks.
class CellAggregator {
 public:
  // Counts `result` in the cell (source, target, its scenario).
  void Add(const std::string& source, const std::string& target, const v1::TaskResult& result);
  // The cells in key order.
  std::vector<v1::Cell> Cells() const;
  size_t size() const { return cells_.size(); }

 private:
  using Key = std::tuple<std::string, std::string, int>;
  struct Acc {
    v1::Cell cell;
    TimeQuantiles times;
    std::map<std::string, int> diagnoses;
    std::map<std::string, int> reasons;  // why tasks were inconclusive
  };
  std::map<Key, Acc> cells_;
};

// Nearest-rank percentile (0 < p <= 100) of `values`; 0 when empty.
int64_t Percentile(std::vector<int64_t> values, double p);

}  // namespace rstmesh
