// SchedulePacer: the order in which agents get their schedules, so that what the
// controller has queued for sending and not yet written stays within a budget of bytes.
// A full mesh of 1,000 agents gives each a schedule of ~50 KB on the wire and about four
// times that in memory until its stream has written it: all at once, 150 MB of a controller
// that otherwise holds ~320 MB for the whole 9-million-task run (docs/run-engine.md).
// A schedule counts against the budget until its agent's stream has written everything it
// had queued, or for at most `hold` (a slow reader does not hold the others up).
//
// Not thread-safe: RunManager holds its lock around every use.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rstmesh {

class SchedulePacer {
 public:
  using Clock = std::chrono::steady_clock;
  // A schedule larger than `budget_bytes` goes out alone.
  SchedulePacer(size_t budget_bytes, Clock::duration hold);

  // `agent`'s schedule in `run_id` is due (again); queued once while it waits.
  void Due(const std::string& run_id, const std::string& agent);
  // Sends the due schedules the budget allows now, in the order they became due.
  // `written(agent)`: whether the agent's stream has written all it had queued.
  // `send(run_id, agent)`: sends that schedule and returns its size in bytes (0: nothing
  // was sent, as for a run that ended).
  void Pump(Clock::time_point now, const std::function<bool(const std::string&)>& written,
            const std::function<size_t(const std::string&, const std::string&)>& send);

  size_t waiting() const { return due_.size(); }
  size_t bytes_in_flight() const { return in_flight_bytes_; }

 private:
  struct InFlight {
    std::string agent;
    Clock::time_point since;
    size_t bytes = 0;
  };
  const size_t budget_;
  const Clock::duration hold_;
  std::deque<std::pair<std::string, std::string>> due_;  // (run, agent)
  std::set<std::pair<std::string, std::string>> is_due_;
  std::vector<InFlight> in_flight_;
  size_t in_flight_bytes_ = 0;
};

}  // namespace rstmesh
