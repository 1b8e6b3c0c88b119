// The store writer against a real SQLite store behind a switch that makes its writes fail,
// as a full disk does: refused batches are answered with the cause and not kept, state
// changes wait and are stored in order once writes work again, the cause is logged once.
#include "controller/store_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "absl/synchronization/notification.h"
#include "controller/forwarding_store.h"
#include "controller/sqlite_store.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::WaitFor;

// Passes everything to a real store, except writes while `full` is set.
class SwitchedStore : public ForwardingStore {
 public:
  explicit SwitchedStore(Store* real) : ForwardingStore(real) {}
  std::atomic<bool> full{false};
  absl::Notification* gate = nullptr;  // set: observation writes wait for it

  absl::Status SetRunState(const std::string& run_id, RunState state, int64_t ms) override {
    return full ? Full() : ForwardingStore::SetRunState(run_id, state, ms);
  }
  absl::Status SetTaskState(const std::string& run_id, uint64_t id, TaskState state) override {
    return full ? Full() : ForwardingStore::SetTaskState(run_id, id, state);
  }
  absl::Status AddTasks(const std::string& run_id, const std::vector<TaskRecord>& tasks) override {
    return full ? Full() : ForwardingStore::AddTasks(run_id, tasks);
  }
  absl::StatusOr<int> InsertRows(const std::vector<ObservationRow>& rows) override {
    if (full) return Full();
    if (gate != nullptr) gate->WaitForNotification();
    return ForwardingStore::InsertRows(rows);
  }

 private:
  static absl::Status Full() { return absl::ResourceExhaustedError("database or disk is full"); }
};

class StoreWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rstmesh-writer-XXXXXX";
    dir_ = mkdtemp(tmpl);
    real_ = std::move(*SqliteStore::Open(dir_ + "/rstmesh.db"));
    store_ = std::make_unique<SwitchedStore>(real_.get());
    RunRecord run;
    run.run_id = "run-1";
    run.total_tasks = 3;
    std::vector<TaskRecord> tasks(3);
    for (uint64_t i = 0; i < 3; ++i) tasks[i].task_id = i + 1;
    ASSERT_TRUE(real_->CreateRun(run, tasks).ok());
    StoreWriter::Options options;
    options.retry_interval = milliseconds(20);
    options.log = [this](const std::string& line) {
      absl::MutexLock lock(&mu_);
      log_.push_back(line);
    };
    writer_ = std::make_unique<StoreWriter>(store_.get(), options);
  }
  void TearDown() override {
    writer_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Submits one observation of task `id` and waits for the answer.
  absl::Status Submit(uint64_t id) {
    v1::Observation obs;
    obs.set_run_id("run-1");
    obs.set_task_id(id);
    obs.set_role(v1::ROLE_INITIATOR);
    absl::Notification answered;
    absl::Status outcome;
    writer_->SubmitObservations({ObservationRow::Of(obs)}, [&](const absl::Status& status) {
      outcome = status;
      answered.Notify();
    });
    answered.WaitForNotificationWithTimeout(absl::Seconds(10));
    return outcome;
  }
  std::vector<std::string> Log() {
    absl::MutexLock lock(&mu_);
    return log_;
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> real_;
  std::unique_ptr<SwitchedStore> store_;
  std::unique_ptr<StoreWriter> writer_;
  absl::Mutex mu_;
  std::vector<std::string> log_;
};

TEST_F(StoreWriterTest, AnswersAfterTheCommit) {
  ASSERT_TRUE(Submit(1).ok());
  EXPECT_EQ(real_->GetObservations("run-1")->size(), 1u) << "answered before it was stored";
  EXPECT_EQ(writer_->health().observations_stored, 1u);
  ASSERT_TRUE(Submit(1).ok()) << "a resend of a stored observation is answered OK";
  EXPECT_EQ(writer_->health().observations_stored, 1u);
}

// Idle discovery's added tasks go through the writer like state changes: kept while the store
// cannot write, stored once it can, in their place in the order.
TEST_F(StoreWriterTest, AddedTasksWaitForTheStoreAndAreStoredOnce) {
  store_->full = true;
  TaskRecord added;
  added.task_id = 4;
  added.source = "a";
  added.target = "b";
  added.scenario = v1::SCENARIO_IDLE_HOLD;
  const uint64_t place = writer_->SubmitAddTasks("run-1", {added});
  ASSERT_TRUE(WaitFor([&] { return writer_->health().errors_total > 0; }, seconds(10)));
  EXPECT_FALSE(writer_->Stored(place));
  EXPECT_EQ(real_->GetTasks("run-1")->size(), 3u);
  store_->full = false;
  ASSERT_TRUE(WaitFor([&] { return writer_->Stored(place); }, seconds(10)));
  const auto tasks = real_->GetTasks("run-1");
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 4u);
  EXPECT_EQ(tasks->back().task_id, 4u);
  EXPECT_EQ(tasks->back().scenario, v1::SCENARIO_IDLE_HOLD);
  EXPECT_EQ((*real_->GetRun("run-1"))->total_tasks, 4u);
}

// A backlog past the writer's limit (agents sending faster than the store writes) is refused
// as busy, for the agents to resend shortly: not a store failure, nothing counted as one.
TEST_F(StoreWriterTest, BacklogPastTheLimitIsRefusedAsBusyNotAsAFailure) {
  StoreWriter::Options options;
  options.max_queued_observations = 3;
  StoreWriter small(store_.get(), options);
  absl::Notification release;
  store_->gate = &release;
  std::atomic<int> stored{0};
  for (uint64_t id = 1; id <= 3; ++id) {
    v1::Observation obs;
    obs.set_run_id("run-1");
    obs.set_task_id(id);
    obs.set_role(v1::ROLE_INITIATOR);
    small.SubmitObservations({ObservationRow::Of(obs)}, [&](const absl::Status& status) {
      if (status.ok()) ++stored;
    });
  }
  absl::Status busy;
  v1::Observation fourth;
  fourth.set_run_id("run-1");
  fourth.set_task_id(3);
  fourth.set_role(v1::ROLE_RESPONDER);
  small.SubmitObservations({ObservationRow::Of(fourth)},
                           [&](const absl::Status& status) { busy = status; });
  EXPECT_EQ(busy.code(), absl::StatusCode::kResourceExhausted) << busy;
  EXPECT_NE(busy.message().find("behind"), absl::string_view::npos) << busy;
  release.Notify();
  ASSERT_TRUE(WaitFor([&] { return stored == 3; }, seconds(10)));
  EXPECT_FALSE(small.health().failing);
  EXPECT_EQ(small.health().errors_total, 0u);
  store_->gate = nullptr;
}

TEST_F(StoreWriterTest, FullStoreRefusesWithTheCauseThenStoresEverythingInOrder) {
  store_->full = true;
  const absl::Status refused = Submit(1);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("database or disk is full"), absl::string_view::npos);
  const uint64_t task_state = writer_->SubmitTaskState("run-1", 2, TaskState::kTimedOut);
  const uint64_t run_state = writer_->SubmitRunState("run-1", RunState::kFinished, 1234);
  EXPECT_EQ(Submit(3).code(), absl::StatusCode::kUnavailable);
  StoreWriter::Health health = writer_->health();
  EXPECT_TRUE(health.failing);
  EXPECT_GE(health.errors_total, 2u);
  EXPECT_EQ(health.error, "database or disk is full");
  EXPECT_FALSE(writer_->Stored(task_state));
  // Retried meanwhile, logged once.
  ASSERT_TRUE(WaitFor([&] { return writer_->health().errors_total >= 5; }, seconds(10)));
  EXPECT_EQ(Log().size(), 1u);
  EXPECT_NE(Log()[0].find("database or disk is full"), std::string::npos);
  EXPECT_TRUE(real_->GetObservations("run-1")->empty()) << "nothing kept or half-written";

  store_->full = false;
  ASSERT_TRUE(WaitFor([&] { return writer_->Stored(run_state); }, seconds(10)));
  EXPECT_TRUE(writer_->Stored(task_state));
  EXPECT_EQ((*real_->GetTasks("run-1"))[1].state, TaskState::kTimedOut);
  EXPECT_EQ((*real_->GetRun("run-1"))->state, RunState::kFinished);
  EXPECT_FALSE(writer_->health().failing);
  EXPECT_EQ(Log().size(), 2u);
  EXPECT_NE(Log()[1].find("writing again"), std::string::npos);
  // The agents' resends.
  EXPECT_TRUE(Submit(1).ok());
  EXPECT_TRUE(Submit(3).ok());
  EXPECT_EQ(real_->GetObservations("run-1")->size(), 2u);
}

}  // namespace
}  // namespace rstmesh
