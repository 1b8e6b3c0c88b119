// DataDirLock: one controller per data directory. An exclusive flock(2) on
// `<dir>/controller.lock`, held for the life of the object; the kernel releases it when the
// process ends, however it ends (kill -9 included), so a restarted controller never finds a
// stale lock. The file names the holder (pid, host, start time) so that a refused second
// controller can say who has the store.
//
// Not copyable; release by destroying it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rstmesh {

class DataDirLock {
 public:
  // kFailedPrecondition naming the holder when another process (or another DataDirLock in
  // this one) holds it; kUnavailable when the file cannot be created.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace rstmesh
