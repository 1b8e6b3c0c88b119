// PostgresServer: a real PostgreSQL 15 server (Debian's postgresql-15) for tests: its own
// cluster in a temporary directory, made and run as an unprivileged user (nobody, when the
// tests run as root: PostgreSQL refuses root), listening on a free loopback port, with one
// database. The server is ended by its pid and the directory removed with the object.
#pragma once

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace rstmesh::testing {

class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Whether the server binaries are installed (scripts/install-deps.sh installs them).
  static bool Installed();
  // initdb, start, wait until it accepts connections, create `database`; false (with why in
  // error()) otherwise.
  bool Start(const std::string& database = "rstmesh");
  // Serve TLS (ssl=on) with this certificate and key, from the next start.
  void UseTls(const std::string& cert_file, const std::string& key_file);
  // Stops the server (as a crash with SIGKILL, or shut down) and starts it again on the same
  // data and port: a blip for its clients.
  bool Restart(int signal = SIGINT);
  // A fresh database on the same server; its DSN, or "" (error() says why).
  std::string CreateDatabase(const std::string& name);
  // Ends the server with `signal` (SIGKILL: as a crash) and waits for it.
  void Stop(int signal = SIGINT);

  // postgresql://rstmesh@127.0.0.1:PORT/DATABASE (trust authentication on loopback).
  std::string dsn() const { return Dsn(database_); }
  std::string Dsn(const std::string& database) const;
  int port() const { return port_; }
  // The server's temporary directory (the tests' files may go there too).
  const std::string& dir() const { return dir_; }
  const std::string& error() const { return error_; }

 private:
  // argv run as the cluster's owner.
  std::vector<std::string> AsOwner(std::vector<std::string> argv) const;
  // postgres on port_, until it accepts connections.
  bool Launch();

  std::string dir_;
  std::string database_;
  int port_ = 0;
  bool tls_ = false;
  std::unique_ptr<Subprocess> process_;
  std::string error_;
};

}  // namespace rstmesh::testing
