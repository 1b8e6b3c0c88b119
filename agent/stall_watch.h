// StallWatch: tells when this agent's process was frozen. A process cannot see its own
// freeze (host hung, SIGSTOP, VM paused, swap storm) from inside, except as a jump: a
// thread that wakes every `tick` and finds much more time gone. Such gaps are kept (the
// last few) so that an observation can say its end was frozen around its test, which makes
// the task inconclusive instead of a path finding: a frozen responder answers late, and a
// frozen initiator misses its own deadlines.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <thread>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

class StallWatch {
 public:
  using Clock = std::chrono::steady_clock;
  static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>);
  struct Options {
    std::chrono::milliseconds tick{100};
    std::chrono::milliseconds stall{1000};  // a gap longer than this is a freeze
    // How far before a test's start a freeze still counts: the watch's own granularity.
    // (A responder's test starts when its header arrived, which may be inside the freeze.)
    std::chrono::milliseconds lookback{200};
  };
  StallWatch() : StallWatch(Options{}) {}
  explicit StallWatch(Options options);
  ~StallWatch();

  // Sets obs.agent_stalled_ms to the frozen time overlapping [its test's start - lookback,
  // now], the start taken from duration_us.
  void Annotate(v1::Observation& obs) const;
  // Lock-free and cheap: whether a freeze ended within the last `recent`, or one may be
  // under way or just over (the watch's own tick is late).
  bool MaybeFrozen(std::chrono::milliseconds recent = std::chrono::seconds(30)) const;
  // Frozen time overlapping [from, to].
  std::chrono::milliseconds StalledWithin(Clock::time_point from, Clock::time_point to) const;

 private:
  struct Stall {
    Clock::time_point from, to;
  };
  void Loop();

  const Options options_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Stall> stalls_ ABSL_GUARDED_BY(mu_);  // the last 64, oldest first
  Clock::time_point last_tick_ ABSL_GUARDED_BY(mu_) = Clock::now();
  // The same two moments for MaybeFrozen, without the lock (nanoseconds of the clock).
  std::atomic<int64_t> last_tick_ns_{Clock::now().time_since_epoch().count()};
  std::atomic<int64_t> last_stall_end_ns_{INT64_MIN / 2};
  std::thread thread_;
};

}  // namespace rstmesh
