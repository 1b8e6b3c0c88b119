#include "controller/postgres_store.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rstmesh/v1/control.pb.h"

namespace rstmesh {
namespace {

// The migrations, by version: each brings the schema from the version before it.
// Integers are BIGINT throughout (results are read in binary, 8 bytes each).
const char* const kMigrations[] = {
    nullptr,  // version 0: an empty database
    R"sql(
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY,
  plan BYTEA NOT NULL,
  state BIGINT NOT NULL,
  created_unix_ms BIGINT NOT NULL,
  finished_unix_ms BIGINT NOT NULL DEFAULT 0,
  total_tasks BIGINT NOT NULL,
  agents BYTEA NOT NULL DEFAULT '',
  run_key BYTEA NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE tasks (
  run_id TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  source TEXT NOT NULL,
  target TEXT NOT NULL,
  scenario BIGINT NOT NULL,
  params BYTEA NOT NULL,
  state BIGINT NOT NULL,
  PRIMARY KEY (run_id, task_id)
);
CREATE TABLE task_states (
  run_id TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  state BIGINT NOT NULL,
  PRIMARY KEY (run_id, task_id)
);
CREATE TABLE observations (
  run_id TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  role BIGINT NOT NULL,
  observation BYTEA NOT NULL,
  PRIMARY KEY (run_id, task_id, role)
);
CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  plan BYTEA NOT NULL,
  created_unix_ms BIGINT NOT NULL,
  last_due_unix_ms BIGINT NOT NULL DEFAULT 0
);
)sql",
    // Version 2: replicated controllers (controller/replica_link.h).
    R"sql(
CREATE TABLE rstmesh_replicas (
  replica TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  started TIMESTAMPTZ NOT NULL DEFAULT now(),
  heartbeat TIMESTAMPTZ NOT NULL
);
CREATE TABLE rstmesh_leases (
  run_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires TIMESTAMPTZ NOT NULL,
  cancel BOOLEAN NOT NULL DEFAULT false,
  done BIGINT NOT NULL DEFAULT 0,
  pass BIGINT NOT NULL DEFAULT 0,
  deviation BIGINT NOT NULL DEFAULT 0,
  inconclusive BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE rstmesh_agents (
  agent_id TEXT PRIMARY KEY,
  replica TEXT NOT NULL,
  info BYTEA NOT NULL,
  connected BOOLEAN NOT NULL,
  registered_unix_ms BIGINT NOT NULL
);
CREATE TABLE rstmesh_mail (
  seq BIGSERIAL PRIMARY KEY,
  replica TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  message BYTEA NOT NULL
);
CREATE INDEX rstmesh_mail_by_replica ON rstmesh_mail (replica, seq);
CREATE TABLE rstmesh_arrivals (
  seq BIGSERIAL PRIMARY KEY,
  run_id TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  role BIGINT NOT NULL,
  observation BYTEA NOT NULL
);
CREATE INDEX rstmesh_arrivals_by_run ON rstmesh_arrivals (run_id, seq);
CREATE TABLE rstmesh_progress (
  run_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  started BIGINT NOT NULL,
  PRIMARY KEY (run_id, agent_id)
);
CREATE SEQUENCE rstmesh_run_number;
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == PostgresStore::kSchemaVersion + 1);

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& dsn,
                                                                   bool replicated) {
  absl::StatusOr<std::unique_ptr<postgres::Connection>> conn = postgres::Connection::Open(dsn);
  if (!conn.ok()) return conn.status();
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(*conn), replicated));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status held = store->HoldDatabase(); !held.ok()) return held;
  if (absl::Status migrated = store->Migrate(); !migrated.ok()) return migrated;
  return store;
}

absl::Status PostgresStore::HoldDatabase() {
  // Replicas share the lock; a controller on its own holds it alone.
  auto held = conn_->Run(replicated_ ? "SELECT pg_try_advisory_lock_shared(7401)"
                                     : "SELECT pg_try_advisory_lock(7401)",
                         "lock the database");
  if (!held.ok()) return held.status();
  if (!(*held)->Bool(0, 0)) {
    return absl::FailedPreconditionError(
        replicated_ ? "store: an rstmesh-controller without --replicated is using this "
                      "database (it must be the only one); stop it, or start every "
                      "controller on this database with --replicated"
                    : "store: another rstmesh-controller is using this database (one "
                      "controller per database, or --replicated on every one); stop it, or "
                      "give this one a database of its own");
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::Ready() {
  absl::StatusOr<bool> reconnected = conn_->Reconnect();
  if (!reconnected.ok()) return reconnected.status();
  // A new session: the lock went with the old one.
  return *reconnected ? HoldDatabase() : absl::OkStatus();
}

PostgresStore::~PostgresStore() = default;

absl::Status PostgresStore::Migrate() {
  postgres::Transaction tx(*conn_);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  // One migrator at a time among replicas starting together (released at commit).
  if (absl::Status s = conn_->Exec("SELECT pg_advisory_xact_lock(7400)", "lock the schema");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          conn_->Exec("CREATE TABLE IF NOT EXISTS rstmesh_schema (version BIGINT NOT NULL)",
                      "schema version table");
      !s.ok()) {
    return s;
  }
  auto current = conn_->Run("SELECT COALESCE(MAX(version), 0) FROM rstmesh_schema", {},
                            "read the schema version");
  if (!current.ok()) return current.status();
  const int64_t version = (*current)->Int(0, 0);
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("store: the database's schema is version ",
                                                      version,
                                                      ", newer than this "
                                                      "rstmesh-controller knows (",
                                                      kSchemaVersion,
                                                      "): run the newer controller, or a "
                                                      "database of its own"));
  }
  for (int64_t v = version + 1; v <= kSchemaVersion; ++v) {
    if (absl::Status s = conn_->Exec(kMigrations[v], absl::StrCat("migrate to schema ", v));
        !s.ok()) {
      return s;
    }
  }
  if (version < kSchemaVersion) {
    postgres::Params p;
    p.Int(kSchemaVersion);
    auto set = conn_->Run("INSERT INTO rstmesh_schema (version) VALUES ($1)", p,
                          "record the schema version");
    if (!set.ok()) return set.status();
  }
  return tx.Commit();
}

absl::Status PostgresStore::CreateRun(const RunRecord& run, const std::vector<TaskRecord>& tasks) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Transaction tx(*conn_);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  v1::ListAgentsResponse agents;
  for (const v1::AgentInfo& a : run.agents) *agents.add_agents() = a;
  const std::string plan = run.plan.SerializeAsString(), agent_bytes = agents.SerializeAsString();
  postgres::Params p;
  p.Text(run.run_id).Bytes(plan).Int(static_cast<int64_t>(run.state)).Int(run.created_unix_ms);
  p.Int(run.finished_unix_ms).Int(static_cast<int64_t>(run.total_tasks)).Bytes(agent_bytes);
  p.Bytes(run.run_key).Text(run.request_id);
  auto inserted = conn_->Run(
      "INSERT INTO runs (run_id, plan, state, created_unix_ms, finished_unix_ms, "
      "total_tasks, agents, run_key, request_id) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
      p, "insert run");
  if (!inserted.ok()) {
    if (absl::IsAlreadyExists(inserted.status())) {
      return absl::AlreadyExistsError(absl::StrCat("run ", run.run_id, " already exists"));
    }
    return inserted.status();
  }
  if (absl::Status s = InsertTasks(run.run_id, tasks); !s.ok()) return s;
  if (absl::Status s = NotifyRuns(); !s.ok()) return s;
  return tx.Commit();
}

absl::Status PostgresStore::NotifyRuns() {
  if (!replicated_) return absl::OkStatus();
  return conn_->Run("SELECT pg_notify('rstmesh_runs', '')", "notify replicas").status();
}

absl::Status PostgresStore::InsertTasks(const std::string& run_id,
                                        const std::vector<TaskRecord>& tasks) {
  for (const TaskRecord& task : tasks) {
    const std::string params = task.params.SerializeAsString();
    postgres::Params p;
    p.Text(run_id).Int(static_cast<int64_t>(task.task_id)).Text(task.source).Text(task.target);
    p.Int(static_cast<int64_t>(task.scenario)).Bytes(params).Int(static_cast<int64_t>(task.state));
    auto inserted = conn_->Run(
        "INSERT INTO tasks (run_id, task_id, source, target, scenario, params, "
        "state) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        p, "insert task");
    if (!inserted.ok()) return inserted.status();
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::AddTasks(const std::string& run_id,
                                     const std::vector<TaskRecord>& tasks) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Transaction tx(*conn_);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  postgres::Params p;
  p.Int(static_cast<int64_t>(tasks.size())).Text(run_id);
  auto updated = conn_->Run("UPDATE runs SET total_tasks = total_tasks + $1 WHERE run_id = $2", p,
                            "update run");
  if (!updated.ok()) return updated.status();
  if ((*updated)->Affected() == 0) return absl::NotFoundError(absl::StrCat("run ", run_id));
  if (absl::Status s = InsertTasks(run_id, tasks); !s.ok()) return s;
  if (absl::Status s = NotifyRuns(); !s.ok()) return s;
  return tx.Commit();
}

absl::Status PostgresStore::SetRunState(const std::string& run_id, RunState state,
                                        int64_t finished_unix_ms) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Params p;
  p.Int(static_cast<int64_t>(state)).Int(finished_unix_ms).Text(run_id);
  auto updated = conn_->Run("UPDATE runs SET state = $1, finished_unix_ms = $2 WHERE run_id = $3",
                            p, "update run");
  if (!updated.ok()) return updated.status();
  if ((*updated)->Affected() == 0) return absl::NotFoundError(absl::StrCat("run ", run_id));
  return absl::OkStatus();
}

absl::Status PostgresStore::SetTaskState(const std::string& run_id, uint64_t task_id,
                                         TaskState state) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  const uint32_t index = static_cast<uint32_t>(task_id);
  postgres::Params p;
  p.Text(run_id).Int(static_cast<int64_t>(task_id)).Int(static_cast<int64_t>(state));
  p.Int(int64_t{index});
  // Only a task of the run (1 <= index <= total_tasks), in one statement.
  auto upserted = conn_->Run(
      "INSERT INTO task_states (run_id, task_id, state) "
      "SELECT $1, $2, $3 FROM runs WHERE run_id = $1 AND $4 >= 1 AND "
      "$4 <= total_tasks "
      "ON CONFLICT (run_id, task_id) DO UPDATE SET state = EXCLUDED.state",
      p, "update task");
  if (!upserted.ok()) return upserted.status();
  if ((*upserted)->Affected() == 0) {
    return absl::NotFoundError(absl::StrCat("task ", task_id, " of run ", run_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PostgresStore::InsertRows(const std::vector<ObservationRow>& rows) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Transaction tx(*conn_);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  int inserted = 0;
  for (size_t start = 0; start < rows.size(); start += kRowsPerStatement) {
    const size_t end = std::min(rows.size(), start + kRowsPerStatement);
    std::string sql = "INSERT INTO observations (run_id, task_id, role, observation) VALUES ";
    postgres::Params p;
    for (size_t i = start; i < end; ++i) {
      const int n = static_cast<int>(4 * (i - start));
      absl::StrAppend(&sql, i == start ? "" : ",", "($", n + 1, ",$", n + 2, ",$", n + 3, ",$",
                      n + 4, ")");
      p.Text(rows[i].run_id).Int(static_cast<int64_t>(rows[i].task_id)).Int(rows[i].role);
      p.Bytes(rows[i].bytes);
    }
    sql += " ON CONFLICT (run_id, task_id, role) DO NOTHING";
    if (replicated_) {
      // The runs' owners hear of the new ones, wherever they are (ReplicaLink), except
      // this replica's own runs, which it joins as it stores them: those whose lease it
      // holds for longer than `lease_margin_`, so that no other replica can have taken one
      // over (and loaded it) before this transaction commits.
      const int n = static_cast<int>(4 * (end - start));
      sql = absl::StrCat(
          "WITH ins AS (", sql,
          " RETURNING run_id, task_id, role, observation) INSERT INTO rstmesh_arrivals "
          "(run_id, task_id, role, observation) SELECT run_id, task_id, role, observation "
          "FROM ins WHERE NOT EXISTS (SELECT 1 FROM rstmesh_leases l WHERE l.run_id = "
          "ins.run_id AND l.owner = $",
          n + 1, " AND l.expires > now() + ($", n + 2, "::float8 / 1000) * interval '1 second')");
      p.Text(replica_id_).Int(lease_margin_.count());
    }
    auto result = conn_->Run(sql, p, "insert observations");
    if (!result.ok()) return result.status();
    inserted += static_cast<int>((*result)->Affected());
  }
  if (replicated_ && inserted > 0) {
    auto notified = conn_->Run("SELECT pg_notify('rstmesh_arrivals', '')", "notify owners");
    if (!notified.ok()) return notified.status();
  }
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  return inserted;
}

absl::StatusOr<std::vector<RunRecord>> PostgresStore::QueryRuns(const std::string& where_id) {
  postgres::Params p;
  if (!where_id.empty()) p.Text(where_id);
  auto result =
      conn_->Run(std::string("SELECT run_id, plan, state, created_unix_ms, finished_unix_ms, "
                             "total_tasks, agents, run_key, request_id FROM runs ") +
                     (where_id.empty() ? "ORDER BY created_unix_ms, run_id" : "WHERE run_id = $1"),
                 p, "query runs");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::vector<RunRecord> runs;
  for (int i = 0; i < r.rows(); ++i) {
    RunRecord run;
    run.run_id = r.Bytes(i, 0);
    if (!run.plan.ParseFromString(r.Bytes(i, 1))) {
      return absl::DataLossError(absl::StrCat("store: run ", run.run_id, ": plan unreadable"));
    }
    run.state = static_cast<RunState>(r.Int(i, 2));
    run.created_unix_ms = r.Int(i, 3);
    run.finished_unix_ms = r.Int(i, 4);
    run.total_tasks = static_cast<uint64_t>(r.Int(i, 5));
    v1::ListAgentsResponse agents;
    if (!agents.ParseFromString(r.Bytes(i, 6))) {
      return absl::DataLossError(absl::StrCat("store: run ", run.run_id, ": agents unreadable"));
    }
    run.agents.assign(agents.agents().begin(), agents.agents().end());
    run.run_key = r.Bytes(i, 7);
    run.request_id = r.Bytes(i, 8);
    runs.push_back(std::move(run));
  }
  return runs;
}

absl::StatusOr<std::optional<RunRecord>> PostgresStore::GetRun(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  if (run_id.empty()) return std::optional<RunRecord>();
  auto runs = QueryRuns(run_id);
  if (!runs.ok()) return runs.status();
  if (runs->empty()) return std::optional<RunRecord>();
  return std::optional<RunRecord>(std::move(runs->front()));
}

absl::StatusOr<std::vector<RunRecord>> PostgresStore::ListRuns() {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  return QueryRuns("");
}

absl::StatusOr<std::vector<TaskRecord>> PostgresStore::GetTasks(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Params p;
  p.Text(run_id);
  auto result = conn_->Run(
      "SELECT t.task_id, t.source, t.target, t.scenario, t.params, "
      "COALESCE(s.state, t.state) FROM tasks t LEFT JOIN task_states s "
      "ON s.run_id = t.run_id AND s.task_id = t.task_id "
      "WHERE t.run_id = $1 ORDER BY t.task_id",
      p, "query tasks");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::vector<TaskRecord> tasks;
  for (int i = 0; i < r.rows(); ++i) {
    TaskRecord task;
    task.task_id = static_cast<uint64_t>(r.Int(i, 0));
    task.source = r.Bytes(i, 1);
    task.target = r.Bytes(i, 2);
    task.scenario = static_cast<v1::Scenario>(r.Int(i, 3));
    task.params.ParseFromString(r.Bytes(i, 4));
    task.state = static_cast<TaskState>(r.Int(i, 5));
    tasks.push_back(std::move(task));
  }
  return tasks;
}

absl::StatusOr<std::vector<std::pair<uint64_t, TaskState>>> PostgresStore::GetTaskStates(
    const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Params p;
  p.Text(run_id);
  auto result = conn_->Run(
      "SELECT task_id, state FROM tasks WHERE run_id = $1 AND state != 0 "
      "AND task_id NOT IN (SELECT task_id FROM task_states WHERE run_id = $1) "
      "UNION ALL SELECT task_id, state FROM task_states WHERE run_id = $1 "
      "ORDER BY 1",
      p, "query task states");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::vector<std::pair<uint64_t, TaskState>> states;
  for (int i = 0; i < r.rows(); ++i) {
    states.emplace_back(static_cast<uint64_t>(r.Int(i, 0)), static_cast<TaskState>(r.Int(i, 1)));
  }
  return states;
}

absl::StatusOr<std::vector<v1::Observation>> PostgresStore::GetObservationPage(
    const std::string& run_id, const ObservationCursor& after, size_t limit) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Params p;
  p.Text(run_id).Int(static_cast<int64_t>(after.task_id)).Int(after.role);
  p.Int(static_cast<int64_t>(limit));
  auto result = conn_->Run(
      "SELECT observation FROM observations WHERE run_id = $1 AND (task_id, role) > "
      "($2, $3) ORDER BY task_id, role LIMIT $4",
      p, "query observations");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::vector<v1::Observation> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    v1::Observation obs;
    if (!obs.ParseFromString(r.Bytes(i, 0))) {
      return absl::DataLossError("store: an observation is unreadable");
    }
    obs.set_run_id(run_id);
    out.push_back(std::move(obs));
  }
  return out;
}

absl::Status PostgresStore::DeleteRun(const std::string& run_id) {
  postgres::Params id;
  id.Text(run_id);
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status ready = Ready(); !ready.ok()) return ready;
    auto run = conn_->Run("SELECT state FROM runs WHERE run_id = $1", id, "query run");
    if (!run.ok()) return run.status();
    if ((*run)->rows() == 0) return absl::NotFoundError(absl::StrCat("no run '", run_id, "'"));
    if ((*run)->Int(0, 0) == static_cast<int64_t>(RunState::kRunning)) {
      return absl::FailedPreconditionError(absl::StrCat("run ", run_id, " is running"));
    }
  }
  for (;;) {
    absl::MutexLock lock(&mu_);
    if (absl::Status ready = Ready(); !ready.ok()) return ready;
    postgres::Params p;
    p.Text(run_id).Int(kDeletePage);
    auto page = conn_->Run(
        "DELETE FROM observations WHERE ctid IN (SELECT ctid FROM observations "
        "WHERE run_id = $1 LIMIT $2)",
        p, "delete observations");
    if (!page.ok()) return page.status();
    if ((*page)->Affected() == 0) break;
  }
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Transaction tx(*conn_);
  if (absl::Status s = tx.Begin(); !s.ok()) return s;
  for (const char* sql :
       {"DELETE FROM task_states WHERE run_id = $1", "DELETE FROM tasks WHERE run_id = $1",
        "DELETE FROM rstmesh_leases WHERE run_id = $1",
        "DELETE FROM rstmesh_progress WHERE run_id = $1",
        "DELETE FROM rstmesh_arrivals WHERE run_id = $1", "DELETE FROM runs WHERE run_id = $1"}) {
    auto deleted = conn_->Run(sql, id, "delete run");
    if (!deleted.ok()) return deleted.status();
  }
  return tx.Commit();
}

absl::Status PostgresStore::PutSchedule(const ScheduleRecord& record) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  const std::string plan = record.plan.SerializeAsString();
  postgres::Params p;
  p.Text(record.name).Bytes(plan).Int(record.created_unix_ms).Int(record.last_due_unix_ms);
  auto put = conn_->Run(
      "INSERT INTO schedules (name, plan, created_unix_ms, last_due_unix_ms) "
      "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET plan = EXCLUDED.plan, "
      "created_unix_ms = EXCLUDED.created_unix_ms, "
      "last_due_unix_ms = EXCLUDED.last_due_unix_ms",
      p, "store schedule");
  return put.status();
}

absl::Status PostgresStore::DeleteSchedule(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  postgres::Params p;
  p.Text(name);
  auto deleted = conn_->Run("DELETE FROM schedules WHERE name = $1", p, "delete schedule");
  if (!deleted.ok()) return deleted.status();
  if ((*deleted)->Affected() == 0) {
    return absl::NotFoundError(absl::StrCat("no schedule '", name, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScheduleRecord>> PostgresStore::ListSchedules() {
  absl::MutexLock lock(&mu_);
  if (absl::Status ready = Ready(); !ready.ok()) return ready;
  auto result = conn_->Run(
      "SELECT name, plan, created_unix_ms, last_due_unix_ms FROM schedules "
      "ORDER BY name",
      {}, "list schedules");
  if (!result.ok()) return result.status();
  const postgres::Result& r = **result;
  std::vector<ScheduleRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    ScheduleRecord s;
    s.name = r.Bytes(i, 0);
    if (!s.plan.ParseFromString(r.Bytes(i, 1))) {
      return absl::DataLossError(
          absl::StrCat("store: the plan of schedule '", s.name, "' is unreadable"));
    }
    s.created_unix_ms = r.Int(i, 2);
    s.last_due_unix_ms = r.Int(i, 3);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace rstmesh
