#include "tests/support/postgres_server.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/support/free_port.h"
#include "tests/support/wait_for.h"

namespace rstmesh::testing {
namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

}  // namespace

bool PostgresServer::Installed() {
  return std::filesystem::exists(kBin + "postgres") && std::filesystem::exists(kBin + "initdb");
}

PostgresServer::PostgresServer() {
  char tmpl[] = "/tmp/rstmesh-pg-XXXXXX";
  dir_ = mkdtemp(tmpl);
  if (geteuid() == 0) {
    if (const passwd* nobody = getpwnam("nobody")) {
      (void)chown(dir_.c_str(), nobody->pw_uid, nobody->pw_gid);
    }
  }
}

PostgresServer::~PostgresServer() {
  Stop(SIGINT);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<std::string> PostgresServer::AsOwner(std::vector<std::string> argv) const {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
                                  "--clear-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::string PostgresServer::Dsn(const std::string& database) const {
  return absl::StrCat("postgresql://rstmesh@127.0.0.1:", port_, "/", database);
}

bool PostgresServer::Start(const std::string& database) {
  database_ = database;
  if (!Installed()) {
    error_ = "PostgreSQL 15 is not installed (Debian postgresql-15): run scripts/install-deps.sh";
    return false;
  }
  RunResult init =
      RunProcess(AsOwner({kBin + "initdb", "-D", dir_ + "/data", "-U", "rstmesh", "--auth=trust",
                          "-E", "UTF8", "--no-sync", "--no-instructions"}),
                 std::chrono::seconds(120));
  if (init.exit_code != 0) {
    error_ = absl::StrCat("initdb failed: ", init.err, init.out);
    return false;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreeLoopbackPort();
    if (Launch()) return !CreateDatabase(database).empty();
  }
  return false;
}

bool PostgresServer::Launch() {
  // No fsync: a test's crash is a killed process, which loses nothing the kernel has.
  std::vector<std::string> argv = {kBin + "postgres",
                                   "-D",
                                   dir_ + "/data",
                                   "-p",
                                   std::to_string(port_),
                                   "-k",
                                   dir_,
                                   "-c",
                                   "listen_addresses=127.0.0.1",
                                   "-c",
                                   "fsync=off",
                                   "-c",
                                   "max_connections=200"};
  if (tls_) {
    argv.insert(argv.end(), {"-c", "ssl=on", "-c", "ssl_cert_file=" + dir_ + "/server.crt", "-c",
                             "ssl_key_file=" + dir_ + "/server.key"});
  }
  process_ = std::make_unique<Subprocess>(AsOwner(argv));
  if (!process_->started()) {
    error_ = "cannot start postgres";
    return false;
  }
  const bool ready = WaitFor(
      [&] {
        return RunProcess(
                   {kBin + "pg_isready", "-q", "-h", "127.0.0.1", "-p", std::to_string(port_)},
                   std::chrono::seconds(5))
                   .exit_code == 0;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100));
  if (ready) return true;
  process_->Signal(SIGKILL);
  process_->Wait(std::chrono::seconds(5));
  error_ =
      absl::StrCat("postgres did not accept connections on port ", port_, ": ", process_->err());
  return false;
}

void PostgresServer::UseTls(const std::string& cert_file, const std::string& key_file) {
  // PostgreSQL reads its key only if its owner alone may (0600, owned by the server's user).
  for (const auto& [from, to] : {std::pair{cert_file, std::string("server.crt")},
                                 std::pair{key_file, std::string("server.key")}}) {
    const std::string path = dir_ + "/" + to;
    std::filesystem::copy_file(from, path, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    if (geteuid() == 0) {
      if (const passwd* nobody = getpwnam("nobody")) {
        (void)chown(path.c_str(), nobody->pw_uid, nobody->pw_gid);
      }
    }
  }
  tls_ = true;
}

bool PostgresServer::Restart(int signal) {
  Stop(signal);
  return Launch();
}

std::string PostgresServer::CreateDatabase(const std::string& name) {
  RunResult created = RunProcess(
      {kBin + "createdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "rstmesh", name},
      std::chrono::seconds(30));
  if (created.exit_code != 0) {
    error_ = absl::StrCat("createdb ", name, ": ", created.err);
    return "";
  }
  return Dsn(name);
}

void PostgresServer::Stop(int signal) {
  if (!process_ || !process_->started()) return;
  process_->Signal(signal);                  // SIGINT: PostgreSQL's fast shutdown
  process_->Wait(std::chrono::seconds(20));  // killed if it does not stop by then
  process_.reset();
}

}  // namespace rstmesh::testing
