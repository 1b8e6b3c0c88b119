// ForwardingStore: a Store that passes every call to another one. Wrappers derive from it
// and override only what they change (a benchmark that skips writes, a test whose store
// fails like a full disk).
#pragma once

#include "controller/store.h"

namespace rstmesh {

class ForwardingStore : public Store {
 public:
  // `target` outlives this store.
  explicit ForwardingStore(Store* target) : target_(target) {}

  absl::Status CreateRun(const RunRecord& run, const std::vector<TaskRecord>& tasks) override {
    return target_->CreateRun(run, tasks);
  }
  absl::Status AddTasks(const std::string& run_id, const std::vector<TaskRecord>& tasks) override {
    return target_->AddTasks(run_id, tasks);
  }
  absl::Status SetRunState(const std::string& run_id, RunState state,
                           int64_t finished_unix_ms) override {
    return target_->SetRunState(run_id, state, finished_unix_ms);
  }
  absl::Status SetTaskState(const std::string& run_id, uint64_t task_id, TaskState state) override {
    return target_->SetTaskState(run_id, task_id, state);
  }
  absl::StatusOr<int> InsertRows(const std::vector<ObservationRow>& rows) override {
    return target_->InsertRows(rows);
  }
  absl::StatusOr<std::optional<RunRecord>> GetRun(const std::string& run_id) override {
    return target_->GetRun(run_id);
  }
  absl::StatusOr<std::vector<RunRecord>> ListRuns() override { return target_->ListRuns(); }
  absl::StatusOr<std::vector<TaskRecord>> GetTasks(const std::string& run_id) override {
    return target_->GetTasks(run_id);
  }
  absl::StatusOr<std::vector<std::pair<uint64_t, TaskState>>> GetTaskStates(
      const std::string& run_id) override {
    return target_->GetTaskStates(run_id);
  }
  absl::StatusOr<std::vector<v1::Observation>> GetObservationPage(const std::string& run_id,
                                                                  const ObservationCursor& after,
                                                                  size_t limit) override {
    return target_->GetObservationPage(run_id, after, limit);
  }

  absl::Status DeleteRun(const std::string& run_id) override { return target_->DeleteRun(run_id); }
  absl::Status PutSchedule(const ScheduleRecord& record) override {
    return target_->PutSchedule(record);
  }
  absl::Status DeleteSchedule(const std::string& name) override {
    return target_->DeleteSchedule(name);
  }
  absl::StatusOr<std::vector<ScheduleRecord>> ListSchedules() override {
    return target_->ListSchedules();
  }

 private:
  Store* const target_;
};

}  // namespace rstmesh
