// The controller's store on real backends, a real SQLite file and a real PostgreSQL server:
// atomic runs, idempotent observation inserts, retention's deletes, schedules; and for
// SQLite's file, a bounded journal and nothing committed lost when the writer is killed.
#include "controller/sqlite_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controller/postgres_store.h"
#include "core/task_id.h"
#include "tests/support/postgres_server.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

// What every store test needs: a temporary directory, observations and runs.
class StoreTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rstmesh-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/rstmesh.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static v1::Observation Obs(const std::string& run, uint64_t task, v1::Role role) {
    v1::Observation obs;
    obs.set_run_id(run);
    obs.set_task_id(task);
    obs.set_role(role);
    obs.set_observed(v1::CLOSURE_FIN);
    return obs;
  }

  static RunRecord Run(const std::string& id, uint64_t tasks) {
    RunRecord run;
    run.run_id = id;
    run.plan.set_name("p-" + id);
    run.created_unix_ms = 1000;
    run.total_tasks = tasks;
    return run;
  }

  std::string dir_, path_;
};

// The SQLite file itself: its journal and a killed writer.
class SqliteStoreTest : public StoreTestBase {
 protected:
  std::unique_ptr<SqliteStore> OpenStore() {
    auto store = SqliteStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
};

// The Store's promises, on each backend: SQLite (a file in the temporary directory) and
// PostgreSQL (a real PostgreSQL 15 server this suite starts, a fresh database per test).
class StoreTest : public StoreTestBase, public ::testing::WithParamInterface<std::string> {
 protected:
  static void SetUpTestSuite() {
    postgres_ = new testing::PostgresServer();
    if (!postgres_->Start("rstmesh")) {
      start_error_ = postgres_->error();
    }
  }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }
  void SetUp() override {
    StoreTestBase::SetUp();
    if (GetParam() == "postgresql") {
      ASSERT_TRUE(start_error_.empty()) << start_error_;
      dsn_ = postgres_->CreateDatabase("test_" + std::to_string(++databases_));
      ASSERT_FALSE(dsn_.empty()) << postgres_->error();
    }
  }
  // The store (again, on the same file or database, after the last one is gone).
  std::unique_ptr<Store> OpenStore() {
    absl::StatusOr<std::unique_ptr<Store>> store =
        GetParam() == "sqlite" ? absl::StatusOr<std::unique_ptr<Store>>(SqliteStore::Open(path_))
                               : absl::StatusOr<std::unique_ptr<Store>>(PostgresStore::Open(dsn_));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static testing::PostgresServer* postgres_;
  static std::string start_error_;
  static int databases_;
  std::string dsn_;
};
testing::PostgresServer* StoreTest::postgres_ = nullptr;
std::string StoreTest::start_error_;
int StoreTest::databases_ = 0;

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(StoreTest, RunsAndTasksRoundTrip) {
  auto store = OpenStore();
  std::vector<TaskRecord> tasks(3);
  for (int i = 0; i < 3; ++i) {
    tasks[i].task_id = i + 1;
    tasks[i].source = "a";
    tasks[i].target = "b";
    tasks[i].scenario = v1::SCENARIO_HALF_CLOSE;
    tasks[i].params.set_request_bytes(100 + i);
  }
  RunRecord record = Run("r1", 3);
  record.agents.resize(2);
  record.agents[0].set_id("a");
  (*record.agents[0].mutable_labels())["zone"] = "z1";
  record.agents[1].set_id("b");
  ASSERT_TRUE(store->CreateRun(record, tasks).ok());
  auto again = store->CreateRun(Run("r1", 3), tasks);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);

  auto run = store->GetRun("r1");
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->plan.name(), "p-r1");
  EXPECT_EQ((*run)->state, RunState::kRunning);
  EXPECT_EQ((*run)->total_tasks, 3u);
  ASSERT_EQ((*run)->agents.size(), 2u);
  EXPECT_EQ((*run)->agents[0].labels().at("zone"), "z1");
  auto stored = store->GetTasks("r1");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 3u);
  EXPECT_EQ((*stored)[2].params.request_bytes(), 102u);
  EXPECT_EQ((*stored)[2].scenario, v1::SCENARIO_HALF_CLOSE);

  ASSERT_TRUE(store->SetTaskState("r1", 2, TaskState::kAgentLost).ok());
  EXPECT_EQ(store->SetTaskState("r1", 99, TaskState::kDone).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->SetRunState("r1", RunState::kFinished, 2000).ok());
  EXPECT_EQ(store->SetRunState("nope", RunState::kFinished, 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store->GetTasks("r1"))[1].state, TaskState::kAgentLost);
  EXPECT_EQ((*store->GetRun("r1"))->state, RunState::kFinished);
  EXPECT_FALSE(store->GetRun("other")->has_value());
}

// A run's planned tasks are not stored one by one: their states are, and its observations
// stream back in task order.
TEST_P(StoreTest, StatesOfUnstoredTasksAndObservationsInTaskOrder) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateRun(Run("run-2", 1000), {}).ok());
  const uint64_t lost = TaskId(2, 700).raw(), timed_out = TaskId(2, 5).raw();
  ASSERT_TRUE(store->SetTaskState("run-2", lost, TaskState::kAgentLost).ok());
  ASSERT_TRUE(store->SetTaskState("run-2", timed_out, TaskState::kTimedOut).ok());
  ASSERT_TRUE(store->SetTaskState("run-2", lost, TaskState::kPeerLost).ok());  // replaced
  EXPECT_EQ(store->SetTaskState("run-2", TaskId(2, 1001).raw(), TaskState::kDone).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->SetTaskState("run-9", lost, TaskState::kDone).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->GetTasks("run-2")->empty());
  auto states = store->GetTaskStates("run-2");
  ASSERT_TRUE(states.ok()) << states.status();
  ASSERT_EQ(states->size(), 2u);
  EXPECT_EQ((*states)[0], std::make_pair(timed_out, TaskState::kTimedOut));
  EXPECT_EQ((*states)[1], std::make_pair(lost, TaskState::kPeerLost));

  std::vector<v1::Observation> batch;
  for (uint32_t index : {9u, 3u, 7u}) {
    for (v1::Role role : {v1::ROLE_RESPONDER, v1::ROLE_INITIATOR}) {
      v1::Observation obs;
      obs.set_run_id("run-2");
      obs.set_task_id(TaskId(2, index).raw());
      obs.set_role(role);
      batch.push_back(obs);
    }
  }
  ASSERT_TRUE(store->InsertObservations(batch).ok());
  std::vector<std::pair<uint32_t, int>> seen;
  ASSERT_TRUE(store
                  ->ForEachObservation("run-2",
                                       [&](v1::Observation&& obs) {
                                         seen.emplace_back(TaskId::FromRaw(obs.task_id()).index(),
                                                           obs.role());
                                       })
                  .ok());
  const std::vector<std::pair<uint32_t, int>> want = {
      {3, v1::ROLE_INITIATOR}, {3, v1::ROLE_RESPONDER}, {7, v1::ROLE_INITIATOR},
      {7, v1::ROLE_RESPONDER}, {9, v1::ROLE_INITIATOR}, {9, v1::ROLE_RESPONDER}};
  EXPECT_EQ(seen, want);
}

// Large runs are read a page at a time: every observation once, in order, across page
// boundaries (a task's two roles split over two pages too), and the store serves its other
// callers between pages.
TEST_P(StoreTest, ObservationsStreamInPagesInTaskOrder) {
  auto store = OpenStore();
  const uint64_t tasks = Store::kObservationPage + 1000;  // pages end mid-task
  ASSERT_TRUE(store->CreateRun(Run("run-3", tasks), {}).ok());
  ASSERT_TRUE(store->CreateRun(Run("run-4", 10), {}).ok());
  std::vector<v1::Observation> batch;
  for (uint32_t index = 1; index <= tasks; ++index) {
    batch.push_back(Obs("run-3", TaskId(3, index).raw(), v1::ROLE_INITIATOR));
    if (index % 3 != 0) batch.push_back(Obs("run-3", TaskId(3, index).raw(), v1::ROLE_RESPONDER));
  }
  ASSERT_TRUE(store->InsertObservations(batch).ok());
  size_t seen = 0;
  std::pair<uint64_t, int> last{0, 0};
  bool in_order = true;
  absl::Status walked = store->ForEachObservation("run-3", [&](v1::Observation&& obs) {
    const std::pair<uint64_t, int> key{obs.task_id(), obs.role()};
    in_order = in_order && key > last;
    last = key;
    if (++seen == 100) {
      // Between pages the store is free: a write of another run goes through.
      EXPECT_TRUE(
          store->InsertObservations({Obs("run-4", TaskId(4, 1).raw(), v1::ROLE_INITIATOR)}).ok());
    }
  });
  ASSERT_TRUE(walked.ok()) << walked;
  EXPECT_TRUE(in_order);
  EXPECT_EQ(seen, batch.size());
  auto page = store->GetObservationPage("run-3", {TaskId(3, 3).raw(), v1::ROLE_INITIATOR}, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].task_id(), TaskId(3, 4).raw());  // task 3 has no responder
  EXPECT_EQ((*page)[0].role(), v1::ROLE_INITIATOR);
  EXPECT_EQ((*page)[1].role(), v1::ROLE_RESPONDER);
  EXPECT_EQ(store->GetObservations("run-4")->size(), 1u);
}

TEST_P(StoreTest, AddedTasksCountInTheRunAndSurviveReopening) {
  auto store = OpenStore();
  std::vector<TaskRecord> first(2), later(3);
  for (int i = 0; i < 5; ++i) {
    TaskRecord& t = i < 2 ? first[i] : later[i - 2];
    t.task_id = i + 1;
    t.source = "a";
    t.target = "b";
    t.scenario = v1::SCENARIO_IDLE_HOLD;
    t.params.set_idle_ms(1000 * (i + 1));
    t.params.set_probe_round(i < 2 ? 1 : 2);
  }
  ASSERT_TRUE(store->CreateRun(Run("run-1", 2), first).ok());
  ASSERT_TRUE(store->AddTasks("run-1", later).ok());
  // A run that does not exist takes nothing; a task id taken twice rolls back the batch.
  EXPECT_EQ(store->AddTasks("run-9", later).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store->AddTasks("run-1", {later[0]}).ok());
  store.reset();
  store = OpenStore();
  auto run = store->GetRun("run-1");
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->total_tasks, 5u);
  auto tasks = store->GetTasks("run-1");
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 5u);
  EXPECT_EQ((*tasks)[4].params.idle_ms(), 5000u);
  EXPECT_EQ((*tasks)[4].params.probe_round(), 2u);
  EXPECT_TRUE(store->GetTasks("run-9")->empty());
}

TEST_P(StoreTest, ObservationInsertsAreIdempotentOnRunTaskRole) {
  auto store = OpenStore();
  std::vector<v1::Observation> batch = {Obs("r", 1, v1::ROLE_INITIATOR),
                                        Obs("r", 1, v1::ROLE_RESPONDER),
                                        Obs("r", 2, v1::ROLE_INITIATOR)};
  EXPECT_EQ(*store->InsertObservations(batch), 3);
  batch.push_back(Obs("r", 2, v1::ROLE_RESPONDER));
  batch[0].set_observed(v1::CLOSURE_RST);  // a resend never overwrites what was stored
  EXPECT_EQ(*store->InsertObservations(batch), 1);
  auto stored = store->GetObservations("r");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 4u);
  EXPECT_EQ((*stored)[0].observed(), v1::CLOSURE_FIN);
  EXPECT_EQ(store->GetObservations("other")->size(), 0u);
}

TEST_P(StoreTest, ConcurrentWritersStoreTheUnionOnce) {
  auto store = OpenStore();
  auto writer = [&](int offset) {
    for (int i = 0; i < 50; ++i) {
      std::vector<v1::Observation> batch;
      for (int k = 0; k < 10; ++k)
        batch.push_back(Obs("r", offset + i * 10 + k, v1::ROLE_INITIATOR));
      ASSERT_TRUE(store->InsertObservations(batch).ok());
    }
  };
  std::thread a(writer, 0), b(writer, 250);  // overlap: tasks 250..499
  a.join();
  b.join();
  EXPECT_EQ(store->GetObservations("r")->size(), 750u);
}

// Checkpoints run on the store's own thread, and the -wal file stays bounded however much
// is written: 80 MB in 160 commits leaves it far smaller than what went through it. The
// run id is kept in the row, not in every observation's bytes, and comes back on reading.
TEST_F(SqliteStoreTest, TheWalFileStaysBoundedAndCheckpointsRunOffTheWriter) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateRun(Run("run-1", 80'000), {}).ok());
  const std::string payload(1000, 'x');
  uint64_t task = 0;
  for (int commit = 0; commit < 160; ++commit) {
    std::vector<ObservationRow> rows;
    for (int i = 0; i < 500; ++i) {
      v1::Observation obs = Obs("", ++task, v1::ROLE_INITIATOR);
      obs.set_peer(payload);
      rows.push_back(ObservationRow::Of("run-1", obs));
    }
    ASSERT_TRUE(store->InsertRows(rows).ok());
  }
  ASSERT_TRUE(testing::WaitFor([&] { return store->checkpoints() > 0; }, std::chrono::seconds(10),
                               std::chrono::milliseconds(20)));
  const auto wal = std::filesystem::file_size(path_ + "-wal");
  EXPECT_LT(wal, uintmax_t{72} << 20) << "the -wal file grew with what was written";
  auto page = store->GetObservationPage("run-1", {}, 1);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front().run_id(), "run-1");
  EXPECT_EQ(page->front().peer(), payload);
}

// Retention deletes a finished run and all of it, pages of observations at a time, and
// leaves the others; a running run is refused.
TEST_P(StoreTest, DeleteRunRemovesEverythingOfThatRunOnly) {
  auto store = OpenStore();
  const uint64_t n = SqliteStore::kDeletePage * 2 + 7;  // three pages
  for (const char* id : {"run-1", "run-2"}) {
    ASSERT_TRUE(store->CreateRun(Run(id, n), {}).ok());
    std::vector<v1::Observation> batch;
    for (uint64_t t = 1; t <= n; ++t) batch.push_back(Obs(id, t, v1::ROLE_INITIATOR));
    ASSERT_TRUE(store->InsertObservations(batch).ok());
    ASSERT_TRUE(store->SetTaskState(id, 3, TaskState::kTimedOut).ok());
  }
  EXPECT_EQ(store->DeleteRun("run-1").code(), absl::StatusCode::kFailedPrecondition) << "running";
  ASSERT_TRUE(store->SetRunState("run-1", RunState::kFinished, 2000).ok());
  ASSERT_TRUE(store->DeleteRun("run-1").ok());
  EXPECT_FALSE(store->GetRun("run-1")->has_value());
  EXPECT_TRUE(store->GetObservations("run-1")->empty());
  EXPECT_TRUE(store->GetTaskStates("run-1")->empty());
  EXPECT_EQ(store->GetObservations("run-2")->size(), n);
  EXPECT_EQ(store->GetTaskStates("run-2")->size(), 1u);
  EXPECT_EQ(store->DeleteRun("run-1").code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, SchedulesAreReplacedByNameAndSurviveReopening) {
  {
    auto store = OpenStore();
    ScheduleRecord r;
    r.name = "nightly";
    r.plan.set_name("nightly");
    r.plan.mutable_schedule()->set_cron("17 3 * * *");
    r.created_unix_ms = 1000;
    ASSERT_TRUE(store->PutSchedule(r).ok());
    r.last_due_unix_ms = 5000;
    r.plan.mutable_schedule()->set_cron("0 4 * * *");
    ASSERT_TRUE(store->PutSchedule(r).ok());
    r.name = "hourly";
    ASSERT_TRUE(store->PutSchedule(r).ok());
    ASSERT_TRUE(store->DeleteSchedule("hourly").ok());
    EXPECT_EQ(store->DeleteSchedule("hourly").code(), absl::StatusCode::kNotFound);
  }
  auto store = OpenStore();
  auto schedules = store->ListSchedules();
  ASSERT_TRUE(schedules.ok());
  ASSERT_EQ(schedules->size(), 1u);
  EXPECT_EQ((*schedules)[0].name, "nightly");
  EXPECT_EQ((*schedules)[0].plan.schedule().cron(), "0 4 * * *");
  EXPECT_EQ((*schedules)[0].last_due_unix_ms, 5000);
}

TEST_F(SqliteStoreTest, CommittedBatchesSurviveKill9) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    auto store = SqliteStore::Open(path_);
    if (!store.ok()) _exit(1);
    for (uint64_t batch = 0;; ++batch) {
      std::vector<v1::Observation> obs;
      for (int k = 0; k < 20; ++k) obs.push_back(Obs("r", batch * 20 + k, v1::ROLE_INITIATOR));
      if (!(*store)->InsertObservations(obs).ok()) _exit(2);
      // Only now is the batch acknowledged, as the controller acks after the insert.
      if (write(pipe_fds[1], &batch, sizeof(batch)) != sizeof(batch)) _exit(3);
    }
  }
  close(pipe_fds[1]);
  uint64_t acked = 0;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(read(pipe_fds[0], &acked, sizeof(acked)), static_cast<ssize_t>(sizeof(acked)));
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(pipe_fds[0]);

  auto store = OpenStore();
  auto stored = store->GetObservations("r");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_GE(stored->size(), (acked + 1) * 20) << "an acknowledged batch was lost";
  EXPECT_EQ(stored->size() % 20, 0u) << "a batch was stored in part";
  for (size_t i = 0; i < stored->size(); ++i) {
    EXPECT_EQ((*stored)[i].task_id(), i) << "each observation exactly once, none missing";
  }
}

}  // namespace
}  // namespace rstmesh
