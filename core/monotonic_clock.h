// MonotonicClock: where controller logic reads the time, so that tests can drive leases,
// pacing and deadlines by hand instead of sleeping. Real() is std::chrono::steady_clock;
// ManualClock moves only when told.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace rstmesh {

class MonotonicClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~MonotonicClock() = default;
  virtual time_point Now() const = 0;
  // The process's steady clock (never null, never destroyed).
  static const MonotonicClock* Real();
};

class ManualClock : public MonotonicClock {
 public:
  explicit ManualClock(time_point start = time_point(std::chrono::hours(1))) : now_(start) {}
  time_point Now() const override { return now_.load(); }
  void Advance(duration d) { now_.store(now_.load() + d); }

 private:
  std::atomic<time_point> now_;
};

// Wall-clock time in milliseconds since the Unix epoch (what runs record and show).
inline int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline const MonotonicClock* MonotonicClock::Real() {
  struct Steady : MonotonicClock {
    time_point Now() const override { return std::chrono::steady_clock::now(); }
  };
  static const Steady* const real = new Steady;
  return real;
}

}  // namespace rstmesh
