// The PostgreSQL store's own promises, against a real PostgreSQL 15 server: versioned
// migrations (and a newer database refused), a connection lost and made again without
// losing the database to another controller, TLS when the DSN asks for it, and the
// controller's --store / --store-file flags with clear errors that never show a password.
#include "controller/postgres_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/support/postgres_server.h"
#include "tests/support/subprocess.h"

namespace rstmesh {
namespace {

using std::chrono::seconds;
using testing::RunProcess;
using testing::RunResult;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(postgres_.Start()) << postgres_.error(); }

  std::unique_ptr<PostgresStore> OpenStore(const std::string& dsn) {
    auto store = PostgresStore::Open(dsn);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  // One statement on its own connection; its first value as text ("" on error).
  std::string Query(const std::string& sql) {
    auto conn = postgres::Connection::Open(postgres_.dsn());
    if (!conn.ok()) return "";
    PGresult* r = PQexec((*conn)->get(), sql.c_str());
    std::string value = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return value;
  }
  // rstmesh-controller with these flags until it serves (then ended) or exits; its result.
  RunResult Controller(std::vector<std::string> flags) {
    std::vector<std::string> argv = {RSTMESH_CONTROLLER_BIN, "--insecure",       "--listen",
                                     "127.0.0.1:0",          "--metrics-listen", "127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    testing::Subprocess controller(argv);
    std::optional<std::string> line = controller.ReadLine(std::chrono::seconds(20));
    if (line && line->find("serving") != std::string::npos) controller.Signal(SIGTERM);
    RunResult result;
    result.exit_code = controller.Wait(std::chrono::seconds(20));
    result.out = (line ? *line + "\n" : "") + controller.out();
    result.err = controller.err();
    return result;
  }

  testing::PostgresServer postgres_;
};

TEST_F(PostgresStoreTest, MigrationsAreVersionedAndANewerDatabaseIsRefused) {
  {
    auto store = OpenStore(postgres_.dsn());
    ASSERT_NE(store, nullptr);
  }
  EXPECT_EQ(Query("SELECT string_agg(version::text, ',') FROM rstmesh_schema"),
            std::to_string(PostgresStore::kSchemaVersion));
  {  // Opening again applies nothing twice.
    auto store = OpenStore(postgres_.dsn());
    ASSERT_NE(store, nullptr);
  }
  EXPECT_EQ(Query("SELECT count(*) FROM rstmesh_schema"), "1");
  // A newer controller migrated the database: this one must not write to it.
  Query("INSERT INTO rstmesh_schema (version) VALUES (99)");
  auto refused = PostgresStore::Open(postgres_.dsn());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("schema is version 99, newer than this "
                                            "rstmesh-controller knows (" +
                                            std::to_string(PostgresStore::kSchemaVersion) + ")"),
            std::string::npos)
      << refused.status();
  RunResult controller = Controller({"--store", postgres_.dsn()});
  EXPECT_EQ(controller.exit_code, 2) << controller.out;
  EXPECT_NE(controller.err.find("schema is version 99"), std::string::npos) << controller.err;
}

// What docs/run-engine.md tells operators to create is enough: a role that logs in and owns
// one database, no superuser. A role without rights there is refused with PostgreSQL's why.
TEST_F(PostgresStoreTest, ADatabaseOwnedByAnOrdinaryRoleIsEnough) {
  Query("CREATE ROLE rstmesh_app LOGIN");
  Query("CREATE DATABASE rstmesh_app OWNER rstmesh_app");
  Query("CREATE ROLE stranger LOGIN");
  const std::string base = absl::StrCat("@127.0.0.1:", postgres_.port(), "/rstmesh_app");
  {
    auto store = OpenStore("postgresql://rstmesh_app" + base);
    ASSERT_NE(store, nullptr);
    RunRecord run;
    run.run_id = "run-1";
    run.total_tasks = 1;
    EXPECT_TRUE(store->CreateRun(run, {}).ok());
  }
  auto stranger = PostgresStore::Open("postgresql://stranger" + base);
  ASSERT_FALSE(stranger.ok());
  EXPECT_NE(stranger.status().message().find("permission denied"), std::string::npos)
      << stranger.status();
}

// The server restarted under an open store: the calls while it is down fail as unavailable
// (the store writer retries them), the next ones go on over a new connection, nothing
// stored is lost, and the new session holds the database again against a second controller.
TEST_F(PostgresStoreTest, AConnectionLostIsMadeAgainWithTheDatabaseStillHeld) {
  auto store = OpenStore(postgres_.dsn());
  ASSERT_NE(store, nullptr);
  RunRecord run;
  run.run_id = "run-1";
  run.total_tasks = 2;
  ASSERT_TRUE(store->CreateRun(run, {}).ok());
  v1::Observation obs;
  obs.set_run_id("run-1");
  obs.set_task_id(1);
  obs.set_role(v1::ROLE_INITIATOR);
  ASSERT_EQ(*store->InsertObservations({obs}), 1);

  postgres_.Stop(SIGKILL);  // as a crash of the database server
  absl::Status down = store->SetRunState("run-1", RunState::kFinished, 5);
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  ASSERT_TRUE(postgres_.Restart()) << postgres_.error();

  absl::Status again = store->SetRunState("run-1", RunState::kFinished, 5);
  EXPECT_TRUE(again.ok()) << again;
  auto read = store->GetRun("run-1");
  ASSERT_TRUE(read.ok() && read->has_value()) << read.status();
  EXPECT_EQ((*read)->state, RunState::kFinished);
  obs.set_role(v1::ROLE_RESPONDER);
  EXPECT_EQ(*store->InsertObservations({obs}), 1);
  int stored = 0;
  ASSERT_TRUE(store->ForEachObservation("run-1", [&](v1::Observation&&) { ++stored; }).ok());
  EXPECT_EQ(stored, 2);
  auto second = PostgresStore::Open(postgres_.dsn());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
}

// sslmode=verify-full: the store talks TLS to a server whose certificate the given CA signed
// and names the host, and refuses one that another CA signed.
TEST_F(PostgresStoreTest, TlsWhenTheDsnAsksForIt) {
  const std::string certs = postgres_.dir() + "/certs", other = postgres_.dir() + "/other";
  for (const std::string& dir : {certs, other}) {
    RunResult made =
        RunProcess({"/bin/bash", RSTMESH_SOURCE_DIR "/scripts/make-certs.sh", dir}, seconds(60));
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  postgres_.UseTls(certs + "/controller.pem", certs + "/controller.key");
  ASSERT_TRUE(postgres_.Restart()) << postgres_.error();

  const std::string dsn = postgres_.dsn() + "?sslmode=verify-full&sslrootcert=" + certs + "/ca.pem";
  auto store = OpenStore(dsn);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Query("SELECT bool_and(ssl)::text FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
                  "WHERE application_name = 'rstmesh-controller'"),
            "true");
  store.reset();

  auto refused = PostgresStore::Open(postgres_.dsn() + "?sslmode=verify-full&sslrootcert=" + other +
                                     "/ca.pem");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("certificate verify failed"), std::string::npos)
      << refused.status();
}

// The controller's flags: a DSN from --store, RSTMESH_STORE or --store-file (a mounted
// Secret); an unreachable server is exit 3 with the DSN redacted; a malformed DSN is a usage
// error naming --store.
TEST_F(PostgresStoreTest, ControllerStoreFlagsAndTheirErrors) {
  RunResult served = Controller({"--store", postgres_.dsn()});
  EXPECT_EQ(served.exit_code, 0) << served.err;
  EXPECT_NE(served.out.find(" store=postgresql://rstmesh@127.0.0.1:" +
                            std::to_string(postgres_.port()) + "/rstmesh"),
            std::string::npos)
      << served.out;

  const std::string file = postgres_.dir() + "/dsn";
  std::ofstream(file) << postgres_.dsn() << "\n";
  RunResult from_file = Controller({"--store-file", file});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.err;
  RunResult missing_file = Controller({"--store-file", postgres_.dir() + "/nope"});
  EXPECT_EQ(missing_file.exit_code, 2);
  EXPECT_NE(missing_file.err.find("--store-file: cannot read"), std::string::npos)
      << missing_file.err;
  std::ofstream(postgres_.dir() + "/empty") << "\n";
  RunResult empty_file = Controller({"--store-file", postgres_.dir() + "/empty"});
  EXPECT_EQ(empty_file.exit_code, 2) << empty_file.out;
  EXPECT_NE(empty_file.err.find("is empty"), std::string::npos) << empty_file.err;

  // Nothing listens on the server's port once it is stopped.
  const std::string secret_dsn = absl::StrCat(
      "postgresql://rstmesh:s3cr3t-pw@127.0.0.1:", postgres_.port(), "/rstmesh?connect_timeout=3");
  postgres_.Stop();
  RunResult unreachable = Controller({"--store", secret_dsn});
  EXPECT_EQ(unreachable.exit_code, 3) << unreachable.err;
  EXPECT_NE(unreachable.err.find("cannot connect to PostgreSQL at postgresql://rstmesh@127.0.0.1:"),
            std::string::npos)
      << unreachable.err;
  EXPECT_EQ((unreachable.err + unreachable.out).find("s3cr3t"), std::string::npos)
      << unreachable.err;

  RunResult malformed = Controller({"--store", "mysql://db/rstmesh"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("--store: not a PostgreSQL DSN"), std::string::npos)
      << malformed.err;
  RunResult bad_option = Controller({"--store", "postgresql://h/db?sslmod=require"});
  EXPECT_EQ(bad_option.exit_code, 2);
  EXPECT_NE(bad_option.err.find("sslmod"), std::string::npos) << bad_option.err;
}

}  // namespace
}  // namespace rstmesh
