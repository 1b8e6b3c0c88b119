// Store: where the controller keeps runs, the states of their tasks that ended otherwise than
// with both reports (lost, timed out), explicit tasks, and every observation, so that nothing
// is lost when it crashes. A run's planned tasks are not stored one by one: they derive from
// its plan and agents (TaskLayout); only tasks added later (idle discovery's rounds) are. A batch
// is in the store before the agent gets its ack; inserting an observation twice (an agent resending
// after a reconnect) keeps the first.
//
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rstmesh/v1/closure.pb.h"
#include "rstmesh/v1/plan.pb.h"

namespace rstmesh {

enum class RunState { kRunning, kFinished, kCancelled };
// kPeerLost: the responder's agent went away while the initiator's test was under way; the
// task is judged from the initiator's account alone.
// kResponderSilent: the initiator reported, but the responder's agent was not heard from
// after it (host hung, agent stopped reporting): nothing to judge the path by.
enum class TaskState {
  kPending,
  kAssigned,
  kDone,
  kTimedOut,
  kAgentLost,
  kPeerLost,
  kResponderSilent
};

absl::string_view RunStateName(RunState state);

struct RunRecord {
  std::string run_id;
  v1::Plan plan;
  RunState state = RunState::kRunning;
  int64_t created_unix_ms = 0;
  int64_t finished_unix_ms = 0;  // 0 while running
  uint64_t total_tasks = 0;
  // The agents the run was planned over, as registered when it started: reports keep their
  // labels (zones) even after an agent is gone.
  std::vector<v1::AgentInfo> agents;
  // The run's data-plane key (32 bytes): test headers are signed with it. Kept so that a
  // restarted controller resumes the run under the same key.
  std::string run_key;
  // The client's request id that started it ("" if none): a retried StartRun finds it.
  std::string request_id;
};

// Where a paged read of a run's observations stands: the last (task id, role) read.
struct ObservationCursor {
  uint64_t task_id = 0;
  int role = 0;
  void After(const v1::Observation& obs) {
    task_id = obs.task_id();
    role = obs.role();
  }
};

// An observation as the store keeps it: its key and its bytes (a serialized
// v1.Observation). The store writer queues rows, not messages: a third of the memory, and
// the serializing is done by whoever submits them, not on the writer's thread.
struct ObservationRow {
  std::string run_id;
  uint64_t task_id = 0;
  int role = 0;
  std::string bytes;
  static ObservationRow Of(const v1::Observation& obs);  // of obs.run_id()
  // Of `run_id`; what is stored of `obs` is as it is (usually without its run id, which
  // readers of the store get back from the row).
  static ObservationRow Of(std::string run_id, const v1::Observation& obs);
};

struct TaskRecord {
  uint64_t task_id = 0;
  std::string source;
  std::string target;
  v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
  v1::ScenarioParams params;
  TaskState state = TaskState::kPending;
};

// A continuous audit: its plan (with its Schedule), keyed by the plan's name, and when its
// last audit was due (0: none yet), so that a restarted controller neither repeats nor skips
// one.
struct ScheduleRecord {
  std::string name;
  v1::Plan plan;
  int64_t created_unix_ms = 0;
  int64_t last_due_unix_ms = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Records a new run and explicit tasks of it (usually none) atomically. kAlreadyExists if
  // the id is taken.
  virtual absl::Status CreateRun(const RunRecord& run, const std::vector<TaskRecord>& tasks) = 0;
  // Adds tasks to an existing run (idle discovery's later rounds) and counts them in its
  // total, atomically.
  virtual absl::Status AddTasks(const std::string& run_id,
                                const std::vector<TaskRecord>& tasks) = 0;
  virtual absl::Status SetRunState(const std::string& run_id, RunState state,
                                   int64_t finished_unix_ms) = 0;
  // Any task of the run (1 <= index <= total_tasks), stored one by one or not.
  virtual absl::Status SetTaskState(const std::string& run_id, uint64_t task_id,
                                    TaskState state) = 0;

  // Stores observations in one transaction. Returns how many were new; an observation whose
  // (run, task, role) is already stored is ignored.
  virtual absl::StatusOr<int> InsertRows(const std::vector<ObservationRow>& rows) = 0;
  // The same from messages (each carries its run id).
  absl::StatusOr<int> InsertObservations(const std::vector<v1::Observation>& observations);

  virtual absl::StatusOr<std::optional<RunRecord>> GetRun(const std::string& run_id) = 0;
  virtual absl::StatusOr<std::vector<RunRecord>> ListRuns() = 0;
  // The tasks stored one by one (explicit ones; every task of runs stored before layouts),
  // with their states.
  virtual absl::StatusOr<std::vector<TaskRecord>> GetTasks(const std::string& run_id) = 0;
  // Every task state that was set (kPending ones are not listed), by task id.
  virtual absl::StatusOr<std::vector<std::pair<uint64_t, TaskState>>> GetTaskStates(
      const std::string& run_id) = 0;
  // Up to `limit` of the run's observations after `after`, by task id and role.
  virtual absl::StatusOr<std::vector<v1::Observation>> GetObservationPage(
      const std::string& run_id, const ObservationCursor& after, size_t limit) = 0;

  // Deletes a run that is not running and everything stored of it (retention). The
  // observations go a bounded number per transaction, so that the store's other callers go
  // on between them; the run itself goes last, so an interrupted delete is finished by the
  // next. kNotFound if there is no such run, kFailedPrecondition if it is running.
  virtual absl::Status DeleteRun(const std::string& run_id) = 0;

  // Continuous audits: inserts or replaces the schedule of record.name.
  virtual absl::Status PutSchedule(const ScheduleRecord& record) = 0;
  // kNotFound if there is none of that name.
  virtual absl::Status DeleteSchedule(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<ScheduleRecord>> ListSchedules() = 0;

  // The run's observations by task id and role, one at a time, read a page at a time: a
  // run of any size, and the store's other callers (the writer) go on between pages.
  absl::Status ForEachObservation(const std::string& run_id,
                                  const std::function<void(v1::Observation&&)>& visit);
  // All of them at once (small runs, tests).
  absl::StatusOr<std::vector<v1::Observation>> GetObservations(const std::string& run_id);
  // Observations per page in ForEachObservation.
  static constexpr size_t kObservationPage = 4096;
};

}  // namespace rstmesh
