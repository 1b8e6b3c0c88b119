// TaskId: the 64-bit id of one task (one test connection between an ordered pair), which
// the controller, both agents and the test header derive the same way: the run's number in
// the upper 32 bits and the task's 1-based index within the run in the lower. Index 0 and
// run 0 never name a task.
#pragma once

#include <cstdint>
#include <string>

namespace rstmesh {

class TaskId {
 public:
  constexpr TaskId() = default;
  constexpr TaskId(uint32_t run, uint32_t index) : raw_(uint64_t{run} << 32 | uint64_t{index}) {}
  static constexpr TaskId FromRaw(uint64_t raw) {
    TaskId id;
    id.raw_ = raw;
    return id;
  }

  constexpr uint64_t raw() const { return raw_; }
  constexpr uint32_t run() const { return static_cast<uint32_t>(raw_ >> 32); }
  constexpr uint32_t index() const { return static_cast<uint32_t>(raw_); }
  // Whether it can name a task at all (both halves non-zero).
  constexpr bool valid() const { return run() != 0 && index() != 0; }
  friend constexpr bool operator==(TaskId a, TaskId b) { return a.raw_ == b.raw_; }
  friend constexpr bool operator<(TaskId a, TaskId b) { return a.raw_ < b.raw_; }

 private:
  uint64_t raw_ = 0;
};

}  // namespace rstmesh
