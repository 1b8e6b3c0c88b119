// PostgresStore: the Store in a PostgreSQL database (libpq), for controllers that share one
// database server. The schema is versioned: Open applies the migrations this binary knows
// (under an advisory lock, so replicas starting together apply each once) and refuses a
// database whose schema is newer than it. Observation batches go in one transaction with
// multi-row inserts (one round trip per 16,000 rows), idempotent on (run, task, role).
// TLS to the server is what the DSN asks for (sslmode=verify-full, sslrootcert=...).
//
// A connection lost (the server restarted, a network blip) is made again by the next call;
// the calls in between fail with kUnavailable, which the store writer retries.
//
// Thread-safe: one connection, used under a mutex (as SqliteStore's).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/postgres_connection.h"
#include "controller/store.h"

namespace rstmesh {

class PostgresStore : public Store {
 public:
  // The schema version this binary writes.
  static constexpr int kSchemaVersion = 2;
  // Rows of one INSERT statement (4 parameters each, under PostgreSQL's 65,535).
  static constexpr size_t kRowsPerStatement = 16'000;

  // Connects to `dsn` ("postgresql://user@host:port/db?sslmode=...", or key=value pairs) and
  // brings the schema up to date. kUnavailable when the server cannot be reached (the DSN's
  // password is never in the message), kFailedPrecondition when the database's schema is
  // newer than this binary.
  // One controller per database, or replicas (`replicated`) only: Open holds a session lock
  // on it (shared among replicas), and kFailedPrecondition says when a controller of the
  // other kind holds it. A replica's store also records, with each new observation, an
  // arrival for the run's owner (rstmesh_arrivals, with a NOTIFY), in the same transaction.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& dsn,
                                                             bool replicated = false);
  ~PostgresStore() override;

  // A replica's id (ReplicaLink): the new observations of runs whose lease it holds for
  // longer than `margin` get no arrival (it joins them itself). Before the first insert.
  void SetReplica(std::string id, std::chrono::milliseconds margin) {
    absl::MutexLock lock(&mu_);
    replica_id_ = std::move(id);
    lease_margin_ = margin;
  }

  absl::Status CreateRun(const RunRecord& run, const std::vector<TaskRecord>& tasks) override;
  absl::Status AddTasks(const std::string& run_id, const std::vector<TaskRecord>& tasks) override;
  absl::Status SetRunState(const std::string& run_id, RunState state,
                           int64_t finished_unix_ms) override;
  absl::Status SetTaskState(const std::string& run_id, uint64_t task_id, TaskState state) override;
  absl::StatusOr<int> InsertRows(const std::vector<ObservationRow>& rows) override;
  absl::StatusOr<std::optional<RunRecord>> GetRun(const std::string& run_id) override;
  absl::StatusOr<std::vector<RunRecord>> ListRuns() override;
  absl::StatusOr<std::vector<TaskRecord>> GetTasks(const std::string& run_id) override;
  absl::StatusOr<std::vector<std::pair<uint64_t, TaskState>>> GetTaskStates(
      const std::string& run_id) override;
  absl::StatusOr<std::vector<v1::Observation>> GetObservationPage(const std::string& run_id,
                                                                  const ObservationCursor& after,
                                                                  size_t limit) override;
  absl::Status DeleteRun(const std::string& run_id) override;
  absl::Status PutSchedule(const ScheduleRecord& record) override;
  absl::Status DeleteSchedule(const std::string& name) override;
  absl::StatusOr<std::vector<ScheduleRecord>> ListSchedules() override;

  static constexpr int kDeletePage = 20'000;

 private:
  PostgresStore(std::unique_ptr<postgres::Connection> conn, bool replicated)
      : replicated_(replicated), conn_(std::move(conn)) {}
  // Replicas hear of new runs and tasks (in the transaction that stores them).
  absl::Status NotifyRuns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the database's session lock (one controller per database, or shared among
  // replicas).
  absl::Status HoldDatabase() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reconnects after a blip, and takes the lock again on the new session.
  absl::Status Ready() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InsertTasks(const std::string& run_id, const std::vector<TaskRecord>& tasks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<RunRecord>> QueryRuns(const std::string& where_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const bool replicated_;
  absl::Mutex mu_;
  std::unique_ptr<postgres::Connection> conn_ ABSL_GUARDED_BY(mu_);
  std::string replica_id_ ABSL_GUARDED_BY(mu_);
  std::chrono::milliseconds lease_margin_ ABSL_GUARDED_BY(mu_){0};
};

}  // namespace rstmesh
