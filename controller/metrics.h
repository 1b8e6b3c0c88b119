// Metrics: the controller's Prometheus counters, with bounded labels only: scenario,
// expected and observed class, verdict, zone pair. Never per agent or per pair of agents.
// Task results are counted when their run finishes.
//
// Thread-safe.
#pragma once

#include <map>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/run_manager.h"

namespace rstmesh {

class Metrics {
 public:
  // Counts a finished run and its judged tasks.
  void AddRun(const ResultCounts& results);

  struct Gauges {
    uint64_t agents_connected = 0;
    std::map<std::string, uint64_t> runs_by_state;
    RunManager::LimitCounts limits;
    StoreWriter::Health store;
  };
  // Prometheus text exposition format 0.0.4.
  std::string Render(const Gauges& gauges) const;

 private:
  mutable absl::Mutex mu_;
  ResultCounts results_ ABSL_GUARDED_BY(mu_);
  uint64_t runs_finished_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rstmesh
