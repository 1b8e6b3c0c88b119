// SqliteStore: the Store in one SQLite file (WAL journal) under the controller's data
// directory. WAL with synchronous=NORMAL survives a killed process: a committed batch is on
// disk before InsertRows returns. Checkpoints run on a connection of their own
// (SqliteCheckpointer).
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/sqlite_checkpointer.h"
#include "controller/store.h"

namespace rstmesh {

class SqliteStore : public Store {
 public:
  // Opens (creating if needed) `path` and its schema. kDataLoss, naming the file and what is
  // wrong, when it is not a database or fails SQLite's integrity check.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;

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
  // Observations DeleteRun removes per transaction.
  static constexpr int kDeletePage = 20'000;
  // Checkpoints its checkpointer thread completed (0 for ":memory:").
  uint64_t checkpoints() const { return checkpointer_ ? checkpointer_->checkpoints() : 0; }

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  // Moves checkpoints off the writing connection (not for ":memory:", which has no WAL).
  absl::Status StartCheckpointer(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // kDataLoss naming the file and the first problem unless SQLite's quick_check says "ok".
  absl::Status CheckIntegrity(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inside a transaction.
  absl::Status InsertTasks(const std::string& run_id, const std::vector<TaskRecord>& tasks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<RunRecord>> QueryRuns(const std::string& where_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SqliteCheckpointer> checkpointer_;  // outlives db_ (its WAL hook)
};

}  // namespace rstmesh
