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

std::vector<v1::Cell> Aggregate(const std::vector<v1::TaskResult>& results,
                                const std::function<std::string(const std::string&)>& group) {
  using Key = std::tuple<std::string, std::string, int>;
  struct Acc {
    v1::Cell cell;
    std::vector<int64_t> times;
    std::map<std::string, int> diagnoses;
    std::map<std::string, int> reasons;  // why tasks were inconclusive
  };
  std::map<Key, Acc> cells;
  for (const v1::TaskResult& r : results) {
    Key key{group(r.source()), group(r.target()), r.scenario()};
    Acc& acc = cells[key];
    v1::Cell& cell = acc.cell;
    cell.set_source(std::get<0>(key));
    cell.set_target(std::get<1>(key));
    cell.set_scenario(r.scenario());
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
      acc.times.push_back(r.initiator().time_to_observe_us());
    }
  }
  std::vector<v1::Cell> out;
  for (auto& [key, acc] : cells) {
    v1::Cell& cell = acc.cell;
    cell.set_time_to_observe_p50_us(Percentile(acc.times, 50));
    cell.set_time_to_observe_p99_us(Percentile(acc.times, 99));
    if (cell.deviation() > 0) {
      cell.set_verdict(v1::VERDICT_DEVIATION);
      auto top = std::max_element(acc.diagnoses.begin(), acc.diagnoses.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
      cell.set_diagnosis(top->first);
    } else if (cell.inconclusive() > 0) {
      cell.set_verdict(v1::VERDICT_INCONCLUSIVE);
      // The most frequent reason it could not be judged.
      auto top = std::max_element(acc.reasons.begin(), acc.reasons.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
      cell.set_diagnosis(top->first);
    } else {
      cell.set_verdict(v1::VERDICT_PASS);
    }
    out.push_back(std::move(cell));
  }
  return out;
}

std::vector<v1::Cell> AggregateByAgent(const std::vector<v1::TaskResult>& results) {
  return Aggregate(results, [](const std::string& id) { return id; });
}

std::vector<v1::Cell> AggregateByLabel(const std::vector<v1::TaskResult>& results,
                                       const std::map<std::string, std::string>& label_of) {
  return Aggregate(results, [&](const std::string& id) {
    auto it = label_of.find(id);
    return it == label_of.end() ? std::string() : it->second;
  });
}

}  // namespace rstmesh
