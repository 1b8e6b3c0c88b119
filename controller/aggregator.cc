#include "controller/aggregator.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/closure.h"

namespace rstmesh {

int64_t Percentile(std::vector<int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

void TimeQuantiles::Add(int64_t us) {
  us = std::max<int64_t>(0, us);
  ++count_;
  if (buckets_.empty()) {
    exact_.push_back(us);
    if (exact_.size() <= kExact) return;
    for (int64_t v : exact_) {
      const size_t b = Bucket(v);
      if (b >= buckets_.size()) buckets_.resize(b + 1);
      ++buckets_[b];
    }
    exact_.clear();
    exact_.shrink_to_fit();
    return;
  }
  const size_t b = Bucket(us);
  if (b >= buckets_.size()) buckets_.resize(b + 1);
  ++buckets_[b];
}

size_t TimeQuantiles::Bucket(int64_t us) {
  if (us < 64) return static_cast<size_t>(us);
  const int e = 63 - __builtin_clzll(static_cast<uint64_t>(us));  // >= 6
  const size_t sub = static_cast<size_t>(us >> (e - 6)) & 63;
  return 64 + static_cast<size_t>(e - 6) * 64 + sub;
}

int64_t TimeQuantiles::LowerBound(size_t bucket) {
  if (bucket < 64) return static_cast<int64_t>(bucket);
  const size_t e = (bucket - 64) / 64 + 6;
  const int64_t sub = static_cast<int64_t>((bucket - 64) % 64);
  return (64 + sub) << (e - 6);
}

int64_t TimeQuantiles::Percentile(double p) const {
  if (buckets_.empty()) return rstmesh::Percentile(exact_, p);
  const uint64_t rank = std::clamp<uint64_t>(
      static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))), 1, count_);
  uint64_t seen = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen >= rank) return LowerBound(b);
  }
  return LowerBound(buckets_.size() - 1);
}

void CellAggregator::Add(const std::string& source, const std::string& target,
                         const v1::TaskResult& r) {
  Key key{source, target, r.scenario()};
  auto [it, fresh] = cells_.try_emplace(std::move(key));
  Acc& acc = it->second;
  v1::Cell& cell = acc.cell;
  if (fresh) {
    cell.set_source(source);
    cell.set_target(target);
    cell.set_scenario(r.scenario());
  }
  cell.set_tasks(cell.tasks() + 1);
  switch (r.verdict()) {
    case v1::VERDICT_PASS:
      cell.set_pass(cell.pass() + 1);
      break;
    case v1::VERDICT_DEVIATION:
      cell.set_deviation(cell.deviation() + 1);
      ++acc.diagnoses[r.diagnosis()];
      break;
    default:
      cell.set_inconclusive(cell.inconclusive() + 1);
      ++acc.reasons[r.diagnosis()];
      break;
  }
  if (r.has_initiator()) {
    (*cell.mutable_observed())[std::string(ClosureName(r.initiator().observed()))]++;
    acc.times.Add(r.initiator().time_to_observe_us());
  }
}

std::vector<v1::Cell> CellAggregator::Cells() const {
  std::vector<v1::Cell> out;
  out.reserve(cells_.size());
  for (const auto& [key, acc] : cells_) {
    v1::Cell cell = acc.cell;
    cell.set_time_to_observe_p50_us(acc.times.Percentile(50));
    cell.set_time_to_observe_p99_us(acc.times.Percentile(99));
    auto most = [](const std::map<std::string, int>& counts) {
      return std::max_element(counts.begin(), counts.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; })
          ->first;
    };
    if (cell.deviation() > 0) {
      cell.set_verdict(v1::VERDICT_DEVIATION);
      cell.set_diagnosis(most(acc.diagnoses));
    } else if (cell.inconclusive() > 0) {
      cell.set_verdict(v1::VERDICT_INCONCLUSIVE);
      cell.set_diagnosis(most(acc.reasons));  // the most frequent reason it could not be judged
    } else {
      cell.set_verdict(v1::VERDICT_PASS);
    }
    out.push_back(std::move(cell));
  }
  return out;
}

}  // namespace rstmesh
