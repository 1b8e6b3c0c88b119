#include "agent/stall_watch.h"

#include <algorithm>

namespace rstmesh {

StallWatch::StallWatch(Options options) : options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

StallWatch::~StallWatch() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void StallWatch::Loop() {
  absl::MutexLock lock(&mu_);
  last_tick_ = Clock::now();
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.tick))) {
    const auto now = Clock::now();
    if (now - last_tick_ > options_.stall) {
      stalls_.push_back({last_tick_, now});
      if (stalls_.size() > 64) stalls_.pop_front();
      last_stall_end_ns_ = now.time_since_epoch().count();
    }
    last_tick_ = now;
    last_tick_ns_ = now.time_since_epoch().count();
  }
}

bool StallWatch::MaybeFrozen(std::chrono::milliseconds recent) const {
  const int64_t now = Clock::now().time_since_epoch().count();
  const int64_t stall_ns = std::chrono::nanoseconds(options_.stall).count();
  return now - last_tick_ns_.load(std::memory_order_relaxed) > stall_ns ||
         now - last_stall_end_ns_.load(std::memory_order_relaxed) <
             std::chrono::nanoseconds(recent).count();
}

std::chrono::milliseconds StallWatch::StalledWithin(Clock::time_point from,
                                                    Clock::time_point to) const {
  absl::MutexLock lock(&mu_);
  Clock::duration total{};
  auto add = [&](Clock::time_point s_from, Clock::time_point s_to) {
    const auto a = std::max(s_from, from), b = std::min(s_to, to);
    if (b > a) total += b - a;
  };
  for (const Stall& s : stalls_) add(s.from, s.to);
  // Just thawed: the watch thread has not woken to record the gap yet.
  if (const auto now = Clock::now(); now - last_tick_ > options_.stall) add(last_tick_, now);
  return std::chrono::duration_cast<std::chrono::milliseconds>(total);
}

void StallWatch::Annotate(v1::Observation& obs) const {
  const auto now = Clock::now();
  const auto from =
      now - std::chrono::microseconds(std::max<int64_t>(0, obs.duration_us())) - options_.lookback;
  obs.set_agent_stalled_ms(static_cast<uint32_t>(StalledWithin(from, now).count()));
}

}  // namespace rstmesh
