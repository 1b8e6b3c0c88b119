#include "controller/sqlite_store.h"

#include "absl/strings/str_cat.h"
#include "rstmesh/v1/control.pb.h"

namespace rstmesh {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  plan BLOB NOT NULL,
  state INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  finished_unix_ms INTEGER NOT NULL DEFAULT 0,
  total_tasks INTEGER NOT NULL,
  agents BLOB NOT NULL DEFAULT x'',
  run_key BLOB NOT NULL DEFAULT x'',
  request_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tasks (
  run_id TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  source TEXT NOT NULL,
  target TEXT NOT NULL,
  scenario INTEGER NOT NULL,
  params BLOB NOT NULL,
  state INTEGER NOT NULL,
  PRIMARY KEY (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS task_states (
  run_id TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  state INTEGER NOT NULL,
  PRIMARY KEY (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS observations (
  run_id TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  role INTEGER NOT NULL,
  observation BLOB NOT NULL,
  PRIMARY KEY (run_id, task_id, role)
);
CREATE TABLE IF NOT EXISTS schedules (
  name TEXT PRIMARY KEY,
  plan BLOB NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  last_due_unix_ms INTEGER NOT NULL DEFAULT 0
);
)sql";

// One prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, const std::string& text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, const std::string& bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t value) { sqlite3_bind_int64(stmt_, i, value); }
  // Without a copy: `text` must stay as it is until the statement has been stepped.
  void BindUnchanged(int i, const std::string& text, bool blob) {
    if (blob) {
      sqlite3_bind_blob(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    } else {
      sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    }
  }
  std::string Text(int i) {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p == nullptr ? "" : reinterpret_cast<const char*>(p);
  }
  std::string Blob(int i) {
    const void* p = sqlite3_column_blob(stmt_, i);
    return p == nullptr ? ""
                        : std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, i));
  }
  int64_t Int(int i) { return sqlite3_column_int64(stmt_, i); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

constexpr const char* kRestoreAdvice =
    "refusing to start on it: restore it from a backup, or move it (with its -wal and -shm "
    "files) aside to start with an empty store";

absl::Status SqlError(sqlite3* db, absl::string_view what) {
  return absl::InternalError(absl::StrCat("store: ", what, ": ", sqlite3_errmsg(db)));
}

}  // namespace

absl::string_view RunStateName(RunState state) {
  switch (state) {
    case RunState::kRunning:
      return "running";
    case RunState::kFinished:
      return "finished";
    case RunState::kCancelled:
      return "cancelled";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  // SQLite counts every allocation under a process-wide mutex unless told not to (before
  // its first use; later calls change nothing).
  static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memstatus_off;
  sqlite3* db = nullptr;
  // The connection is only used under mu_: SQLite's own per-call mutex would be a second
  // lock on every bind and step.
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("store: cannot open ", path, ": ", db ? sqlite3_errmsg(db) : "no memory"));
    sqlite3_close(db);
    return status;
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  absl::MutexLock lock(&store->mu_);
  // 32 MiB of page cache (SQLite's default is 2): the observations' index of a run with
  // millions of tasks is read back page by page on every insert otherwise.
  for (const char* sql :
       {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", "PRAGMA cache_size=-32768;"}) {
    if (absl::Status s = store->Exec(sql); !s.ok()) {
      return absl::DataLossError(absl::StrCat("store: ", path, " is not a readable rstmesh store (",
                                              s.message(), "); ", kRestoreAdvice));
    }
  }
  // A damaged file must not be served as an empty or partial store: every page and index
  // is checked before anything is read (linear in the file's size).
  if (absl::Status intact = store->CheckIntegrity(path); !intact.ok()) return intact;
  if (absl::Status s = store->Exec(kSchema); !s.ok()) return s;
  // Stores made before run keys existed gain the column (a running run without a key gets
  // a new one when it is loaded).
  store->Exec("ALTER TABLE runs ADD COLUMN run_key BLOB NOT NULL DEFAULT x'';").IgnoreError();
  // And before client request ids existed.
  store->Exec("ALTER TABLE runs ADD COLUMN request_id TEXT NOT NULL DEFAULT '';").IgnoreError();
  if (absl::Status s = store->StartCheckpointer(path); !s.ok()) return s;
  return store;
}

absl::Status SqliteStore::StartCheckpointer(const std::string& path) {
  if (path.empty() || path == ":memory:") return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<SqliteCheckpointer>> checkpointer = SqliteCheckpointer::Open(path);
  if (!checkpointer.ok()) return checkpointer.status();
  checkpointer_ = std::move(*checkpointer);
  // Replaces SQLite's own checkpoint after a commit.
  sqlite3_wal_hook(db_, &SqliteCheckpointer::WalHook, checkpointer_.get());
  return absl::OkStatus();
}

SqliteStore::~SqliteStore() {
  {
    absl::MutexLock lock(&mu_);
    sqlite3_close(db_);
  }
  checkpointer_.reset();  // last: its connection checkpoints what is left
}

absl::Status SqliteStore::CheckIntegrity(const std::string& path) {
  Statement check(db_, "PRAGMA quick_check;");
  if (!check.ok()) {
    return absl::DataLossError(absl::StrCat("store: ", path, " is corrupted (", sqlite3_errmsg(db_),
                                            "); ", kRestoreAdvice));
  }
  std::vector<std::string> problems;
  int rc;
  while ((rc = sqlite3_step(check.get())) == SQLITE_ROW) problems.push_back(check.Text(0));
  if (rc != SQLITE_DONE) {
    return absl::DataLossError(absl::StrCat("store: ", path, " is corrupted (", sqlite3_errmsg(db_),
                                            "); ", kRestoreAdvice));
  }
  if (problems.size() == 1 && problems[0] == "ok") return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "store: ", path,
      " is corrupted (integrity check: ", problems.empty() ? std::string("no answer") : problems[0],
      problems.size() > 1 ? absl::StrCat(" and ", problems.size() - 1, " more problems") : "",
      "); ", kRestoreAdvice));
}

absl::Status SqliteStore::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status status = absl::InternalError(absl::StrCat("store: ", error ? error : "?"));
    sqlite3_free(error);
    return status;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::CreateRun(const RunRecord& run, const std::vector<TaskRecord>& tasks) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE;"); !s.ok()) return s;
  auto fail = [&](absl::Status status) {
    Exec("ROLLBACK;").IgnoreError();
    return status;
  };
  {
    Statement insert(db_,
                     "INSERT INTO runs (run_id, plan, state, created_unix_ms, "
                     "finished_unix_ms, total_tasks, agents, run_key, request_id) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert.ok()) return fail(SqlError(db_, "prepare runs"));
    insert.Bind(1, run.run_id);
    insert.BindBlob(2, run.plan.SerializeAsString());
    insert.Bind(3, static_cast<int64_t>(run.state));
    insert.Bind(4, run.created_unix_ms);
    insert.Bind(5, run.finished_unix_ms);
    insert.Bind(6, static_cast<int64_t>(run.total_tasks));
    v1::ListAgentsResponse agents;
    for (const v1::AgentInfo& a : run.agents) *agents.add_agents() = a;
    insert.BindBlob(7, agents.SerializeAsString());
    insert.BindBlob(8, run.run_key);
    insert.Bind(9, run.request_id);
    int rc = sqlite3_step(insert.get());
    if (rc == SQLITE_CONSTRAINT) {
      return fail(absl::AlreadyExistsError(absl::StrCat("run ", run.run_id, " already exists")));
    }
    if (rc != SQLITE_DONE) return fail(SqlError(db_, "insert run"));
  }
  if (absl::Status s = InsertTasks(run.run_id, tasks); !s.ok()) return fail(s);
  return Exec("COMMIT;");
}

absl::Status SqliteStore::InsertTasks(const std::string& run_id,
                                      const std::vector<TaskRecord>& tasks) {
  Statement insert(db_,
                   "INSERT INTO tasks (run_id, task_id, source, target, scenario, params, state) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return SqlError(db_, "prepare tasks");
  for (const TaskRecord& task : tasks) {
    sqlite3_reset(insert.get());
    insert.Bind(1, run_id);
    insert.Bind(2, static_cast<int64_t>(task.task_id));
    insert.Bind(3, task.source);
    insert.Bind(4, task.target);
    insert.Bind(5, static_cast<int64_t>(task.scenario));
    insert.BindBlob(6, task.params.SerializeAsString());
    insert.Bind(7, static_cast<int64_t>(task.state));
    if (sqlite3_step(insert.get()) != SQLITE_DONE) return SqlError(db_, "insert task");
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::AddTasks(const std::string& run_id,
                                   const std::vector<TaskRecord>& tasks) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE;"); !s.ok()) return s;
  auto fail = [&](absl::Status status) {
    Exec("ROLLBACK;").IgnoreError();
    return status;
  };
  Statement update(db_, "UPDATE runs SET total_tasks = total_tasks + ? WHERE run_id = ?");
  update.Bind(1, static_cast<int64_t>(tasks.size()));
  update.Bind(2, run_id);
  if (sqlite3_step(update.get()) != SQLITE_DONE) return fail(SqlError(db_, "update run"));
  if (sqlite3_changes(db_) == 0) return fail(absl::NotFoundError(absl::StrCat("run ", run_id)));
  if (absl::Status s = InsertTasks(run_id, tasks); !s.ok()) return fail(s);
  return Exec("COMMIT;");
}

absl::Status SqliteStore::SetRunState(const std::string& run_id, RunState state,
                                      int64_t finished_unix_ms) {
  absl::MutexLock lock(&mu_);
  Statement update(db_, "UPDATE runs SET state = ?, finished_unix_ms = ? WHERE run_id = ?");
  update.Bind(1, static_cast<int64_t>(state));
  update.Bind(2, finished_unix_ms);
  update.Bind(3, run_id);
  if (sqlite3_step(update.get()) != SQLITE_DONE) return SqlError(db_, "update run");
  if (sqlite3_changes(db_) == 0) return absl::NotFoundError(absl::StrCat("run ", run_id));
  return absl::OkStatus();
}

absl::Status SqliteStore::SetTaskState(const std::string& run_id, uint64_t task_id,
                                       TaskState state) {
  absl::MutexLock lock(&mu_);
  Statement exists(db_, "SELECT total_tasks FROM runs WHERE run_id = ?");
  exists.Bind(1, run_id);
  const int rc = sqlite3_step(exists.get());
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(db_, "query run");
  const uint32_t index = static_cast<uint32_t>(task_id);
  if (rc == SQLITE_DONE || index == 0 || index > static_cast<uint64_t>(exists.Int(0))) {
    return absl::NotFoundError(absl::StrCat("task ", task_id, " of run ", run_id));
  }
  Statement upsert(db_,
                   "INSERT OR REPLACE INTO task_states (run_id, task_id, state) VALUES (?, ?, ?)");
  upsert.Bind(1, run_id);
  upsert.Bind(2, static_cast<int64_t>(task_id));
  upsert.Bind(3, static_cast<int64_t>(state));
  if (sqlite3_step(upsert.get()) != SQLITE_DONE) return SqlError(db_, "update task");
  return absl::OkStatus();
}

absl::StatusOr<int> SqliteStore::InsertRows(const std::vector<ObservationRow>& rows) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE;"); !s.ok()) return s;
  Statement insert(db_,
                   "INSERT OR IGNORE INTO observations (run_id, task_id, role, observation) "
                   "VALUES (?, ?, ?, ?)");
  int inserted = 0;
  for (const ObservationRow& row : rows) {
    sqlite3_reset(insert.get());
    insert.BindUnchanged(1, row.run_id, false);
    insert.Bind(2, static_cast<int64_t>(row.task_id));
    insert.Bind(3, int64_t{row.role});
    insert.BindUnchanged(4, row.bytes, true);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) {
      absl::Status status = SqlError(db_, "insert observation");
      Exec("ROLLBACK;").IgnoreError();
      return status;
    }
    inserted += sqlite3_changes(db_);
  }
  if (absl::Status s = Exec("COMMIT;"); !s.ok()) return s;
  return inserted;
}

absl::StatusOr<std::vector<RunRecord>> SqliteStore::QueryRuns(const std::string& where_id) {
  Statement query(db_, where_id.empty()
                           ? "SELECT run_id, plan, state, created_unix_ms, finished_unix_ms, "
                             "total_tasks, agents, run_key, request_id FROM runs "
                             "ORDER BY created_unix_ms, run_id"
                           : "SELECT run_id, plan, state, created_unix_ms, finished_unix_ms, "
                             "total_tasks, agents, run_key, request_id FROM runs WHERE run_id = ?");
  if (!where_id.empty()) query.Bind(1, where_id);
  std::vector<RunRecord> runs;
  int rc;
  while ((rc = sqlite3_step(query.get())) == SQLITE_ROW) {
    RunRecord run;
    run.run_id = query.Text(0);
    if (!run.plan.ParseFromString(query.Blob(1))) {
      return absl::DataLossError(absl::StrCat("store: run ", run.run_id, ": plan unreadable"));
    }
    run.state = static_cast<RunState>(query.Int(2));
    run.created_unix_ms = query.Int(3);
    run.finished_unix_ms = query.Int(4);
    run.total_tasks = static_cast<uint64_t>(query.Int(5));
    v1::ListAgentsResponse agents;
    if (!agents.ParseFromString(query.Blob(6))) {
      return absl::DataLossError(absl::StrCat("store: run ", run.run_id, ": agents unreadable"));
    }
    run.agents.assign(agents.agents().begin(), agents.agents().end());
    run.run_key = query.Blob(7);
    run.request_id = query.Text(8);
    runs.push_back(std::move(run));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "query runs");
  return runs;
}

absl::StatusOr<std::optional<RunRecord>> SqliteStore::GetRun(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  if (run_id.empty()) return std::optional<RunRecord>();
  auto runs = QueryRuns(run_id);
  if (!runs.ok()) return runs.status();
  if (runs->empty()) return std::optional<RunRecord>();
  return std::optional<RunRecord>(std::move(runs->front()));
}

absl::StatusOr<std::vector<RunRecord>> SqliteStore::ListRuns() {
  absl::MutexLock lock(&mu_);
  return QueryRuns("");
}

absl::StatusOr<std::vector<TaskRecord>> SqliteStore::GetTasks(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  // A state set later (task_states) overrides the row's own (runs stored before it existed).
  Statement query(db_,
                  "SELECT t.task_id, t.source, t.target, t.scenario, t.params, "
                  "COALESCE(s.state, t.state) FROM tasks t LEFT JOIN task_states s "
                  "ON s.run_id = t.run_id AND s.task_id = t.task_id "
                  "WHERE t.run_id = ? ORDER BY t.task_id");
  query.Bind(1, run_id);
  std::vector<TaskRecord> tasks;
  int rc;
  while ((rc = sqlite3_step(query.get())) == SQLITE_ROW) {
    TaskRecord task;
    task.task_id = static_cast<uint64_t>(query.Int(0));
    task.source = query.Text(1);
    task.target = query.Text(2);
    task.scenario = static_cast<v1::Scenario>(query.Int(3));
    task.params.ParseFromString(query.Blob(4));
    task.state = static_cast<TaskState>(query.Int(5));
    tasks.push_back(std::move(task));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "query tasks");
  return tasks;
}

absl::StatusOr<std::vector<std::pair<uint64_t, TaskState>>> SqliteStore::GetTaskStates(
    const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  // Stored task rows' own states first (runs stored before task_states), then task_states.
  Statement query(db_,
                  "SELECT task_id, state FROM tasks WHERE run_id = ?1 AND state != 0 "
                  "AND task_id NOT IN (SELECT task_id FROM task_states WHERE run_id = ?1) "
                  "UNION ALL SELECT task_id, state FROM task_states WHERE run_id = ?1 "
                  "ORDER BY 1");
  query.Bind(1, run_id);
  std::vector<std::pair<uint64_t, TaskState>> states;
  int rc;
  while ((rc = sqlite3_step(query.get())) == SQLITE_ROW) {
    states.emplace_back(static_cast<uint64_t>(query.Int(0)), static_cast<TaskState>(query.Int(1)));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "query task states");
  return states;
}

absl::StatusOr<std::vector<v1::Observation>> SqliteStore::GetObservationPage(
    const std::string& run_id, const ObservationCursor& after, size_t limit) {
  absl::MutexLock lock(&mu_);
  // The primary key's order: each page is one range of its index.
  Statement query(db_,
                  "SELECT observation FROM observations WHERE run_id = ? AND (task_id, role) > "
                  "(?, ?) ORDER BY task_id, role LIMIT ?");
  query.Bind(1, run_id);
  query.Bind(2, static_cast<int64_t>(after.task_id));
  query.Bind(3, int64_t{after.role});
  query.Bind(4, static_cast<int64_t>(limit));
  std::vector<v1::Observation> out;
  out.reserve(std::min<size_t>(limit, 4096));
  int rc;
  while ((rc = sqlite3_step(query.get())) == SQLITE_ROW) {
    v1::Observation obs;
    if (!obs.ParseFromString(query.Blob(0))) {
      return absl::DataLossError("store: an observation is unreadable");
    }
    obs.set_run_id(run_id);  // stored in the row, not in the observation's bytes
    out.push_back(std::move(obs));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "query observations");
  return out;
}

absl::Status SqliteStore::DeleteRun(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    Statement run(db_, "SELECT state FROM runs WHERE run_id = ?");
    run.Bind(1, run_id);
    const int rc = sqlite3_step(run.get());
    if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("no run '", run_id, "'"));
    if (rc != SQLITE_ROW) return SqlError(db_, "query run");
    if (run.Int(0) == static_cast<int64_t>(RunState::kRunning)) {
      return absl::FailedPreconditionError(absl::StrCat("run ", run_id, " is running"));
    }
  }
  // A page of observations per transaction (and per hold of the lock), so that the writer's
  // batches go in between.
  for (;;) {
    absl::MutexLock lock(&mu_);
    Statement page(db_,
                   "DELETE FROM observations WHERE rowid IN (SELECT rowid FROM observations "
                   "WHERE run_id = ? LIMIT ?)");
    page.Bind(1, run_id);
    page.Bind(2, int64_t{kDeletePage});
    if (sqlite3_step(page.get()) != SQLITE_DONE) return SqlError(db_, "delete observations");
    if (sqlite3_changes(db_) == 0) break;
  }
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE;"); !s.ok()) return s;
  for (const char* sql :
       {"DELETE FROM task_states WHERE run_id = ?", "DELETE FROM tasks WHERE run_id = ?",
        "DELETE FROM runs WHERE run_id = ?"}) {
    Statement del(db_, sql);
    del.Bind(1, run_id);
    if (sqlite3_step(del.get()) != SQLITE_DONE) {
      absl::Status status = SqlError(db_, "delete run");
      Exec("ROLLBACK;").IgnoreError();
      return status;
    }
  }
  return Exec("COMMIT;");
}

absl::Status SqliteStore::PutSchedule(const ScheduleRecord& record) {
  absl::MutexLock lock(&mu_);
  Statement put(db_,
                "INSERT OR REPLACE INTO schedules (name, plan, created_unix_ms, last_due_unix_ms) "
                "VALUES (?, ?, ?, ?)");
  put.Bind(1, record.name);
  put.BindBlob(2, record.plan.SerializeAsString());
  put.Bind(3, record.created_unix_ms);
  put.Bind(4, record.last_due_unix_ms);
  if (sqlite3_step(put.get()) != SQLITE_DONE) return SqlError(db_, "store schedule");
  return absl::OkStatus();
}

absl::Status SqliteStore::DeleteSchedule(const std::string& name) {
  absl::MutexLock lock(&mu_);
  Statement del(db_, "DELETE FROM schedules WHERE name = ?");
  del.Bind(1, name);
  if (sqlite3_step(del.get()) != SQLITE_DONE) return SqlError(db_, "delete schedule");
  if (sqlite3_changes(db_) == 0)
    return absl::NotFoundError(absl::StrCat("no schedule '", name, "'"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScheduleRecord>> SqliteStore::ListSchedules() {
  absl::MutexLock lock(&mu_);
  Statement list(
      db_, "SELECT name, plan, created_unix_ms, last_due_unix_ms FROM schedules ORDER BY name");
  std::vector<ScheduleRecord> out;
  int rc;
  while ((rc = sqlite3_step(list.get())) == SQLITE_ROW) {
    ScheduleRecord r;
    r.name = list.Text(0);
    if (!r.plan.ParseFromString(list.Blob(1))) {
      return absl::DataLossError(
          absl::StrCat("store: the plan of schedule '", r.name, "' is unreadable"));
    }
    r.created_unix_ms = list.Int(2);
    r.last_due_unix_ms = list.Int(3);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "list schedules");
  return out;
}

}  // namespace rstmesh
