#include "controller/schedule_pacer.h"

#include <algorithm>

namespace rstmesh {

SchedulePacer::SchedulePacer(size_t budget_bytes, Clock::duration hold)
    : budget_(budget_bytes), hold_(hold) {}

void SchedulePacer::Due(const std::string& run_id, const std::string& agent) {
  if (is_due_.emplace(run_id, agent).second) due_.emplace_back(run_id, agent);
}

void SchedulePacer::Pump(
    Clock::time_point now, const std::function<bool(const std::string&)>& written,
    const std::function<size_t(const std::string&, const std::string&)>& send) {
  if (!in_flight_.empty()) {
    auto gone = std::remove_if(in_flight_.begin(), in_flight_.end(), [&](const InFlight& f) {
      return now - f.since > hold_ || written(f.agent);
    });
    for (auto it = gone; it != in_flight_.end(); ++it) in_flight_bytes_ -= it->bytes;
    in_flight_.erase(gone, in_flight_.end());
  }
  while (!due_.empty() && (in_flight_bytes_ < budget_ || in_flight_.empty())) {
    auto [run_id, agent] = std::move(due_.front());
    due_.pop_front();
    is_due_.erase({run_id, agent});
    if (const size_t bytes = send(run_id, agent); bytes > 0) {
      in_flight_bytes_ += bytes;
      in_flight_.push_back({std::move(agent), now, bytes});
    }
  }
}

}  // namespace rstmesh
