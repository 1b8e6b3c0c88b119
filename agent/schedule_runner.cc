#include "agent/schedule_runner.h"

#include <algorithm>

namespace rstmesh {
namespace {

// How long the loop sleeps when nothing is due (it is woken for anything that matters).
constexpr std::chrono::milliseconds kIdle{1000};

}  // namespace

ScheduleRunner::ScheduleRunner(Options options, Starter start)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : MonotonicClock::Real()),
      start_(std::move(start)) {}

ScheduleRunner::~ScheduleRunner() { Stop(); }

void ScheduleRunner::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ScheduleRunner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ScheduleRunner::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

uint32_t ScheduleRunner::AddTarget(Run& run, const v1::ScheduleTarget& target) {
  for (uint32_t i = 0; i < run.targets.size(); ++i) {
    Target& known = run.targets[i];
    if (known.agent != target.agent()) continue;
    // A target that came back at another address is tested there from now on.
    if (!target.endpoint().empty()) {
      known.endpoint = target.endpoint();
      known.closed_port = target.closed_port();
      known.incarnation = target.incarnation();
    }
    SetPaused(run, known, target.paused());
    return i;
  }
  Target added;
  added.agent = target.agent();
  added.endpoint = target.endpoint();
  added.closed_port = target.closed_port();
  added.incarnation = target.incarnation();
  added.paused = target.paused();
  run.targets.push_back(std::move(added));
  return static_cast<uint32_t>(run.targets.size() - 1);
}

void ScheduleRunner::Add(v1::Schedule part) {
  absl::MutexLock lock(&mu_);
  if (part.blocks_size() == 0 && part.tasks_size() == 0) {
    // Only where targets listen now (one came back on another port).
    auto it = runs_.find(part.run_number());
    if (it == runs_.end()) return;
    for (const v1::ScheduleTarget& t : part.targets()) {
      for (Target& known : it->second.targets) {
        if (known.agent != t.agent()) continue;
        if (!t.endpoint().empty()) {
          known.endpoint = t.endpoint();
          known.closed_port = t.closed_port();
          known.incarnation = t.incarnation();
        }
        SetPaused(it->second, known, t.paused());
      }
    }
    woken_ = true;
    return;
  }
  Run& run = runs_[part.run_number()];
  if (run.cancelled) return;
  run.run_id = part.run_id();
  run.key = part.run_key();
  run.concurrency = std::max<int>(1, static_cast<int>(part.concurrency()));
  run.spacing = std::chrono::milliseconds(part.pair_spacing_ms());
  run.rate = part.closures_per_second();
  run.connect_timeout_ms = part.connect_timeout_ms();
  run.io_timeout_ms = part.io_timeout_ms();
  // Work a predecessor of this process started, or that is over.
  run.cursor = std::max<uint64_t>(run.cursor, part.resume_from());
  std::vector<uint32_t> targets;
  targets.reserve(part.targets_size());
  for (const v1::ScheduleTarget& t : part.targets()) targets.push_back(AddTarget(run, t));
  if (part.blocks_size() > 0 && part.part() == run.next_part) {
    ++run.next_part;
    for (const v1::ScheduleBlock& block : part.blocks()) {
      const uint32_t work = static_cast<uint32_t>(run.work.size());
      run.work.push_back({block.scenario(), block.params()});
      for (uint32_t rep = 0; rep < std::max(1u, block.repetitions()); ++rep) {
        for (int t = 0; t < part.targets_size(); ++t) {
          const uint64_t index = uint64_t{block.first_index()} + uint64_t{rep} * block.stride() +
                                 part.targets(t).pair() + 1;
          run.items.push_back({uint64_t{part.run_number()} << 32 | index, targets[t], work});
        }
      }
    }
  }
  for (const v1::ScheduledTask& task : part.tasks()) {
    if (task.target() >= targets.size() || !run.extra_ids.insert(task.task_id()).second) continue;
    const uint32_t work = static_cast<uint32_t>(run.work.size());
    run.work.push_back({task.scenario(), task.params()});
    run.extra.push_back({task.task_id(), targets[task.target()], work});
  }
  woken_ = true;
}

void ScheduleRunner::SetPaused(Run& run, Target& target, bool paused) {
  if (target.paused == paused) return;
  target.paused = paused;
  if (paused) return;
  // Its tests that waited go first.
  const uint32_t index = static_cast<uint32_t>(&target - run.targets.data());
  for (auto it = run.deferred.rbegin(); it != run.deferred.rend(); ++it) {
    if (it->target == index) run.resumed.push_front(*it);
  }
  std::erase_if(run.deferred, [&](const Item& item) { return item.target == index; });
}

std::optional<uint64_t> ScheduleRunner::Cancel(const v1::CancelRun& cancel) {
  absl::MutexLock lock(&mu_);
  std::optional<uint64_t> not_started;
  for (auto& [number, run] : runs_) {
    if (run.run_id != cancel.run_id()) continue;
    if (cancel.targets().empty()) {
      if (!run.cancelled) {
        not_started = run.items.size() - std::min<uint64_t>(run.cursor, run.items.size()) +
                      run.extra.size() + run.deferred.size() + run.resumed.size();
      }
      run.cancelled = true;
      run.cursor = std::max<uint64_t>(run.cursor, run.items.size());
      run.extra.clear();
      run.deferred.clear();
      run.resumed.clear();
      continue;
    }
    for (Target& target : run.targets) {
      if (std::find(cancel.targets().begin(), cancel.targets().end(), target.agent) !=
          cancel.targets().end()) {
        target.dropped = true;
      }
    }
  }
  woken_ = true;
  return not_started;
}

void ScheduleRunner::Forget(uint32_t run_number) {
  absl::MutexLock lock(&mu_);
  runs_.erase(run_number);
}

v1::ScheduleProgress ScheduleRunner::Progress() const {
  absl::MutexLock lock(&mu_);
  v1::ScheduleProgress progress;
  for (const auto& [number, run] : runs_) {
    v1::RunProgress* p = progress.add_runs();
    p->set_run_number(number);
    p->set_started(run.cursor);
  }
  progress.set_rate_delayed(rate_delayed_);
  progress.set_spacing_delayed(spacing_delayed_);
  return progress;
}

int ScheduleRunner::running() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [number, run] : runs_) n += run.in_flight;
  return n;
}

ScheduleRunner::Clock::time_point ScheduleRunner::StartDue(std::vector<ScheduledTest>& out) {
  const auto now = clock_->Now();
  auto next = Clock::time_point::max();
  if (options_.may_start && !options_.may_start()) return next;  // woken when it may
  for (auto& [number, run] : runs_) {
    for (;;) {
      if (run.in_flight >= run.concurrency) break;  // woken when one ends
      // Tests that waited for their target first, then the schedule's order, then amendments.
      std::deque<Item>* queue = !run.resumed.empty()            ? &run.resumed
                                : run.cursor < run.items.size() ? nullptr
                                : !run.extra.empty()            ? &run.extra
                                                                : nullptr;
      if (queue == nullptr && run.cursor >= run.items.size()) break;
      const Item item = queue == nullptr ? run.items[run.cursor] : queue->front();
      Target& target = run.targets[item.target];
      auto advance = [&] {
        if (queue == nullptr) {
          ++run.cursor;
        } else {
          queue->pop_front();
        }
        run.head_waited_rate = run.head_waited_spacing = false;
      };
      if (target.dropped) {
        advance();
        continue;
      }
      if (target.paused) {
        run.deferred.push_back(item);
        advance();
        continue;
      }
      // Where it listens comes when it registers (or it is dropped when it is lost).
      if (target.endpoint.empty()) break;
      if (run.spacing.count() > 0 && target.last_start != Clock::time_point{} &&
          now < target.last_start + run.spacing) {
        if (!run.head_waited_spacing) ++spacing_delayed_;
        run.head_waited_spacing = true;
        next = std::min(next, target.last_start + run.spacing);
        break;
      }
      if (run.rate > 0) {
        const double burst = std::max(1.0, run.rate);
        if (run.tokens < 0) {
          run.tokens = burst;
        } else {
          run.tokens = std::min(
              burst,
              run.tokens + run.rate * std::chrono::duration<double>(now - run.refilled).count());
        }
        run.refilled = now;
        if (run.tokens < 1.0) {
          if (!run.head_waited_rate) ++rate_delayed_;
          run.head_waited_rate = true;
          next = std::min(next,
                          now + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>((1.0 - run.tokens) / run.rate)));
          break;
        }
        run.tokens -= 1.0;
      }
      advance();
      target.last_start = now;
      ++run.in_flight;
      ScheduledTest test;
      test.run_id = run.run_id;
      test.task_id = item.task_id;
      test.scenario = run.work[item.work].scenario;
      test.params = run.work[item.work].params;
      test.target_endpoint = target.endpoint;
      test.closed_port = target.closed_port;
      test.target_incarnation = target.incarnation;
      test.run_key = run.key;
      test.connect_timeout_ms = run.connect_timeout_ms;
      test.io_timeout_ms = run.io_timeout_ms;
      out.push_back(std::move(test));
    }
  }
  return next;
}

void ScheduleRunner::Launch(std::vector<ScheduledTest>& due) {
  if (due.empty()) return;
  for (ScheduledTest& test : due) {
    const uint32_t run_number = static_cast<uint32_t>(test.task_id >> 32);
    start_(std::move(test), [this, run_number] {
      absl::MutexLock done_lock(&mu_);
      if (auto it = runs_.find(run_number); it != runs_.end()) --it->second.in_flight;
      woken_ = true;
    });
  }
  // So that the controller hears at once how far the schedules got.
  if (options_.on_started) options_.on_started();
}

void ScheduleRunner::Step() {
  std::vector<ScheduledTest> due;
  {
    absl::MutexLock lock(&mu_);
    StartDue(due);
  }
  Launch(due);
}

void ScheduleRunner::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    woken_ = false;
    std::vector<ScheduledTest> due;
    const auto next = StartDue(due);
    if (!due.empty()) {
      mu_.Unlock();
      Launch(due);
      mu_.Lock();
      continue;  // there may be more (or a test that ended at once)
    }
    const auto now = clock_->Now();
    auto wait = next == Clock::time_point::max()
                    ? std::chrono::duration_cast<Clock::duration>(kIdle)
                    : std::max<Clock::duration>(next - now, std::chrono::milliseconds(1));
    wait = std::min<Clock::duration>(wait, kIdle);
    auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return woken_ || stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), absl::FromChrono(wait));
  }
}

}  // namespace rstmesh
