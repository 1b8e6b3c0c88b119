// AgentMetrics: what an agent shows Prometheus on its --metrics-listen port: the data port's
// connections and refusals by reason, the closures its tests observed by scenario, role and
// class, the controller session's state and the build. Labels are bounded by the catalogue:
// never per peer.
//
// Thread-safe: CountClosure from any thread without a lock; Render at scrapes.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "agent/controller_session.h"
#include "agent/responder.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

class AgentMetrics {
 public:
  AgentMetrics();

  // Each observation this agent reports, as it reports it.
  void CountClosure(const v1::Observation& observation);

  struct Now {
    ResponderCounters data_port;
    ControllerSession::Stats session;
    int running_tests = 0;
  };
  // Prometheus text exposition format 0.0.4.
  std::string Render(const Now& now) const;

 private:
  static constexpr int kScenarios = v1::Scenario_ARRAYSIZE;
  static constexpr int kClasses = v1::ClosureClass_ARRAYSIZE;
  static constexpr size_t kSlots = size_t{2} * kScenarios * kClasses;  // two roles
  static size_t Slot(int role, int scenario, int closure) {
    return (static_cast<size_t>(role) * kScenarios + scenario) * kClasses + closure;
  }
  std::unique_ptr<std::atomic<uint64_t>[]> closures_;  // [role][scenario][class]
};

}  // namespace rstmesh
