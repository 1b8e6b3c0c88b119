// CallWorker: where the control service's calls do their store reads and other long work,
// so that no gRPC reaction blocks (a report of a 9-million-task run reads the store for
// seconds). A few threads and a bounded queue: a call that finds it full is refused
// (RESOURCE_EXHAUSTED) rather than queued without end.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rstmesh {

class CallWorker {
 public:
  CallWorker(int threads, size_t max_queued);
  // Runs what is queued, then joins the threads.
  ~CallWorker();
  CallWorker(const CallWorker&) = delete;
  CallWorker& operator=(const CallWorker&) = delete;

  // False (and `work` is not run) when the queue is full or the worker is stopping.
  bool Post(std::function<void()> work);

 private:
  void Run();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace rstmesh
