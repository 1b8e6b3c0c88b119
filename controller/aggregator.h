// Rolls judged tasks up into report cells: per (source, target, scenario), or per label
// pair (zone -> zone) by mapping agents to their label value. Counts per verdict and per
// observed class, time-to-observe p50/p99, and the dominant diagnosis.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

// Cells keyed by (group(source), group(target), scenario), in key order.
std::vector<v1::Cell> Aggregate(const std::vector<v1::TaskResult>& results,
                                const std::function<std::string(const std::string&)>& group);

// Per agent pair.
std::vector<v1::Cell> AggregateByAgent(const std::vector<v1::TaskResult>& results);

// Per label pair: `label_of` maps agent id -> label value ("" when unknown).
std::vector<v1::Cell> AggregateByLabel(const std::vector<v1::TaskResult>& results,
                                       const std::map<std::string, std::string>& label_of);

// Nearest-rank percentile (0 < p <= 100) of `values`; 0 when empty.
int64_t Percentile(std::vector<int64_t> values, double p);

}  // namespace rstmesh
