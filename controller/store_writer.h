// StoreWriter: the one thread that writes the controller's store. Nothing else writes, so
// no gRPC reaction and no lock on the hot path ever waits for the disk.
//
// Observation batches are group-committed: every batch queued when the writer wakes goes
// into one transaction, and each batch's `done` runs after the commit, so an agent's ack
// always means "stored". A store that cannot write (disk full, I/O error, corruption) is
// loud: the cause is logged once (again only when it changes), counted, and reported by
// health(); queued batches are answered with kUnavailable so that their agents hold and
// resend them, and nothing is kept here. State changes (a task's or a run's) are small: they
// stay queued in order and are retried until they are stored.
//
// Thread-safe. `done` callbacks run on the writer's second thread, in commit order (the
// writer goes on with the next group meanwhile), and must not block.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "controller/store.h"

namespace rstmesh {

class StoreWriter {
 public:
  using Done = std::function<void(const absl::Status&)>;
  struct Options {
    // Observations queued at most; beyond, a batch is answered kUnavailable at once.
    size_t max_queued_observations = 200'000;
    // Observations per transaction, at most.
    size_t max_group_observations = 50'000;
    // How soon a failing store is tried again.
    std::chrono::milliseconds retry_interval{1000};
    // Where the first failure and each change of cause are logged; null: stderr.
    std::function<void(const std::string&)> log;
  };
  struct Health {
    bool failing = false;
    std::string error;  // the last failure's cause, while failing
    int64_t failing_since_unix_ms = 0;
    uint64_t errors_total = 0;         // failed write attempts since start
    uint64_t groups_committed = 0;     // transactions of observations
    uint64_t observations_stored = 0;  // new ones (resends that were already stored excluded)
    size_t queued_updates = 0;         // state changes not stored yet
  };

  StoreWriter(Store* store, Options options);
  ~StoreWriter();  // Stop()

  // Queues a batch; `done` after it was committed (OK) or could not be (kUnavailable with the
  // cause: the agent keeps it and resends it).
  void SubmitObservations(std::vector<ObservationRow> rows, Done done);
  // Queues a state change, stored in order with everything else, retried until it is.
  // Returns its place in the queue's order: Stored(place) says when it is in the store.
  uint64_t SubmitTaskState(std::string run_id, uint64_t task_id, TaskState state);
  uint64_t SubmitRunState(std::string run_id, RunState state, int64_t finished_unix_ms);
  // Tasks added to a run (idle discovery's later rounds), stored in order like a state change:
  // before any observation of them that is queued after.
  uint64_t SubmitAddTasks(std::string run_id, std::vector<TaskRecord> tasks);
  // Whether the change at `place`, and everything queued before it, has been stored.
  bool Stored(uint64_t place) const;

  Health health() const;
  // Whether the store cannot write now: cheap, for the scheduler's every tick.
  bool failing() const;
  // Whether everything queued so far has been stored (tests, shutdown).
  bool Idle() const;
  // Writes what it can (one more attempt), then stops; batches not stored get kUnavailable.
  void Stop();

 private:
  struct Batch {
    std::vector<ObservationRow> rows;  // moved into the store's write
    size_t count = 0;                  // how many rows it had (the queue's limit counts them)
    Done done;
  };
  struct TaskUpdate {
    std::string run_id;
    uint64_t task_id;
    TaskState state;
  };
  struct RunUpdate {
    std::string run_id;
    RunState state;
    int64_t finished_unix_ms;
  };
  struct TaskAdd {
    std::string run_id;
    std::vector<TaskRecord> tasks;
  };
  struct Item {
    uint64_t place = 0;
    std::variant<Batch, TaskUpdate, RunUpdate, TaskAdd> what;
  };

  void Loop();
  // Answers written (or refused) batches in the order they were written: their `done` (the
  // runs take them in, the agents get their acks) and freeing them happen here, while the
  // writer goes on with the next group.
  void AnswerLoop();
  bool AnswerReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !answers_.empty() || writer_stopped_;
  }
  // Writes the head of the queue (a group of batches, or one update). Called without mu_.
  absl::Status Write(std::vector<Item>& items);
  void Failed(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  const Options options_;
  std::thread thread_;
  std::thread answer_thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // the writer holds items taken off the queue
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_place_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t stored_through_ ABSL_GUARDED_BY(mu_) = 0;  // every place up to it is done
  // Observations queued or written and not answered yet (what the limit counts).
  size_t queued_observations_ ABSL_GUARDED_BY(mu_) = 0;
  struct Answer {
    absl::Status status;
    std::vector<Batch> batches;
  };
  std::deque<Answer> answers_ ABSL_GUARDED_BY(mu_);
  bool answering_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_stopped_ ABSL_GUARDED_BY(mu_) = false;
  Health health_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rstmesh
