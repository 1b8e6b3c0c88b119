// ScheduleRunner: runs the schedules the controller compiled for this agent (one per run it
// initiates tests in; agent_hub.proto's Schedule) on its own thread. Tests start in schedule
// order within the run's limits: tests under way at once, least time between two tests of
// one pair, test connections per second (a token bucket, up to a second's worth at once).
// A test waits for its target's address if the controller did not know it yet, and the tests
// of a target the controller does not hear from (paused) wait while the others go on. It
// pauses while `may_start` says no (the session holds too many unacknowledged
// observations), keeps going while the controller is away, and says how far each schedule
// got (Progress), so that a restarted process resumes where this one stopped.
//
// Thread-safe. The starter runs on the runner's thread and must not block; `done` may be
// called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "core/monotonic_clock.h"
#include "rstmesh/v1/agent_hub.pb.h"

namespace rstmesh {

// One test to start.
struct ScheduledTest {
  std::string run_id;
  uint64_t task_id = 0;
  v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
  v1::ScenarioParams params;
  std::string target_endpoint;  // "host:port"
  uint32_t closed_port = 0;
  std::string target_incarnation;  // the process that listens at target_endpoint
  std::string run_key;             // 32 bytes
  uint32_t connect_timeout_ms = 0;
  uint32_t io_timeout_ms = 0;
};

class ScheduleRunner {
 public:
  using Done = std::function<void()>;
  using Starter = std::function<void(ScheduledTest test, Done done)>;
  struct Options {
    const MonotonicClock* clock = nullptr;  // null: the steady clock
    std::function<bool()> may_start;        // null: always
    std::function<void()> on_started;       // after tests started (without locks); may be null
  };

  ScheduleRunner(Options options, Starter start);
  ~ScheduleRunner();

  void Start();
  void Stop();  // tests under way finish on their own deadlines
  // One pass on the caller's thread: starts what is due now (tests that do not Start()).
  void Step();

  // A part of a run's schedule (or an amendment). Parts it has already are ignored.
  void Add(v1::Schedule part);
  // Stops a run's schedule (no new test starts), or only its tests against some targets.
  // Returns, for a whole run it had, how many of its tests will not start.
  std::optional<uint64_t> Cancel(const v1::CancelRun& cancel);
  // The run is over (its key was revoked): forgets it.
  void Forget(uint32_t run_number);
  // Something `may_start` depends on changed.
  void Wake();

  v1::ScheduleProgress Progress() const;
  // Tests under way, over every run.
  int running() const;

 private:
  using Clock = MonotonicClock;
  struct Target {
    std::string agent;
    std::string endpoint;
    uint32_t closed_port = 0;
    std::string incarnation;
    bool dropped = false;  // cancelled: its tests are skipped
    bool paused = false;   // its tests wait in Run::deferred
    Clock::time_point last_start{};
  };
  struct Work {  // what a test does: a block's, or an explicit task's
    v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
    v1::ScenarioParams params;
  };
  struct Item {
    uint64_t task_id;
    uint32_t target;  // into Run::targets
    uint32_t work;    // into Run::work
  };
  struct Run {
    std::string run_id;
    std::string key;
    int concurrency = 4;
    std::chrono::milliseconds spacing{0};
    double rate = 0;  // closures per second; 0: no limit
    uint32_t connect_timeout_ms = 0;
    uint32_t io_timeout_ms = 0;
    uint32_t next_part = 0;  // parts arrive in order; others wait for a resend
    std::vector<Target> targets;
    std::vector<Work> work;
    std::vector<Item> items;     // the numbered parts' work items, in order
    uint64_t cursor = 0;         // items before it are started or skipped
    std::deque<Item> extra;      // explicit tasks not started yet (after the numbered items)
    std::vector<Item> deferred;  // tests of paused targets
    std::deque<Item> resumed;    // tests whose target is back: before anything else
    absl::flat_hash_set<uint64_t> extra_ids;
    int in_flight = 0;
    bool cancelled = false;
    double tokens = -1;  // < 0: full at first use
    Clock::time_point refilled{};
    bool head_waited_rate = false;  // the next item was counted as delayed already
    bool head_waited_spacing = false;
  };

  void Loop();
  void Launch(std::vector<ScheduledTest>& due);  // without the lock
  // Starts what the limits allow; returns when to look again (max(): when woken).
  Clock::time_point StartDue(std::vector<ScheduledTest>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t AddTarget(Run& run, const v1::ScheduleTarget& target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetPaused(Run& run, Target& target, bool paused) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Clock* const clock_;
  const Starter start_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint32_t, Run> runs_ ABSL_GUARDED_BY(mu_);
  uint64_t rate_delayed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t spacing_delayed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rstmesh
