// Metrics: the controller's Prometheus metrics, with bounded labels only: scenario, closure
// class, verdict, zone pair, plan name. Never per agent or per pair of agents.
//
// Task results count as tasks are judged, while their run goes on: every (scenario,
// verdict, zone pair) series a run can produce exists from its start, at 0, so that
// increase() over an audit shows its deviations and ratios read 0, not nothing. Counters
// start at 0 with the process (Prometheus' rate() handles the reset).
//
// Thread-safe.
#pragma once

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_registry.h"
#include "controller/run_manager.h"
#include "telemetry/histogram.h"

namespace rstmesh {

class Metrics {
 public:
  Metrics();

  // A live run's counts so far, or a finished run's final ones (RunManager's listener).
  void Update(std::vector<RunManager::RunResults> runs);
  // Each observation as it arrives from an agent (its role and time to observe).
  void ObserveArrival(const v1::Observation& observation);

  // What is read from the other parts at each scrape.
  struct Gauges {
    AgentRegistry::Counts agents;
    std::map<std::string, uint64_t> runs_by_state;
    // The last finished run of each plan in the store: finish time and duration (seconds).
    struct LastAudit {
      double finished_unix_s = 0;
      double duration_s = 0;
    };
    std::map<std::string, LastAudit> last_audit_by_plan;
    RunManager::LimitCounts limits;
    StoreWriter::Health store;
  };
  // Prometheus text exposition format 0.0.4.
  std::string Render(const Gauges& gauges) const;

 private:
  struct LiveEntry {
    ResultCounts results;
    RunProgress progress;
  };
  mutable absl::Mutex mu_;
  ResultCounts finished_results_ ABSL_GUARDED_BY(mu_);          // of runs that ended
  std::map<std::string, LiveEntry> live_ ABSL_GUARDED_BY(mu_);  // by run id
  // Each plan's last run that ended in this process: its verdict counts.
  std::map<std::string, RunProgress> last_counts_by_plan_ ABSL_GUARDED_BY(mu_);
  uint64_t runs_finished_ ABSL_GUARDED_BY(mu_) = 0;
  Histogram run_duration_;
  Histogram time_to_observe_[2];  // initiator, responder
  std::atomic<uint64_t> received_[2] = {0, 0};
};

}  // namespace rstmesh
