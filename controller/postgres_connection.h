// What the controller's PostgreSQL code shares (libpq): a connection that reconnects after a
// blip, statements with binary parameters and results, transactions that roll back unless
// committed, and DSNs fit for logs (without their passwords).
//
// Not thread-safe: each user holds its own Connection, under its own mutex.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rstmesh::postgres {

// The DSN without its password: postgresql://USER@HOST:PORT/DB.
std::string Redacted(const std::string& dsn);
// Whether `dsn` reads as a PostgreSQL connection string (a postgresql:// or postgres:// URI,
// or key=value pairs) that libpq can parse; if not, why.
absl::Status CheckDsn(const std::string& dsn);

// Parameters of one statement, all sent in binary.
class Params {
 public:
  Params& Text(const std::string& s);
  Params& Bytes(const std::string& s);
  Params& Int(int64_t v);
  int size() const { return static_cast<int>(types_.size()); }

 private:
  friend class Connection;
  Params& Add(Oid type, const char* data, size_t size, ptrdiff_t int_index = -1);
  std::vector<const char*> values() const;  // valid until the next Add

  std::vector<Oid> types_;
  std::vector<const char*> values_;
  std::vector<ptrdiff_t> int_index_;
  std::deque<int64_t> ints_;  // big-endian, at stable addresses
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// A statement's result; columns read in binary.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  int rows() const { return PQntuples(r_); }
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string Bytes(int row, int col) const;
  int64_t Int(int row, int col) const;
  bool Bool(int row, int col) const;
  // Rows an INSERT, UPDATE or DELETE touched.
  int64_t Affected() const;

 private:
  friend class Connection;
  PGresult* r_;
};

class Connection {
 public:
  // Connects to `dsn`; a DSN without connect_timeout gets 10 s. kUnavailable when the server
  // cannot be reached (the message never carries the password).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& dsn);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // After a blip (the server restarted, a network cut) the connection is made again before
  // the next statement; true if that happened since the last call (session state such as
  // advisory locks and LISTENs is gone and must be taken again). kUnavailable if it cannot.
  absl::StatusOr<bool> Reconnect();
  // `sql` with `params` (as $1, $2, ...): its rows, or its error (kAlreadyExists for a
  // unique violation, kUnavailable when the connection is lost, kInternal otherwise).
  absl::StatusOr<std::unique_ptr<Result>> Run(const std::string& sql, const Params& params,
                                              absl::string_view what);
  absl::StatusOr<std::unique_ptr<Result>> Run(const std::string& sql, absl::string_view what) {
    return Run(sql, Params(), what);
  }
  // Several statements in one round trip, without parameters (migrations).
  absl::Status Exec(const char* sql, absl::string_view what);
  // A NOTIFY that came for a channel this session LISTENs to.
  struct Notification {
    std::string channel;
    std::string payload;
  };
  // The notifications that came, waiting up to `timeout` for the first. kUnavailable when
  // the connection is lost (Reconnect, then LISTEN again).
  absl::StatusOr<std::vector<Notification>> AwaitNotifications(std::chrono::milliseconds timeout);
  PGconn* get() { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  absl::Status Failed(const PGresult* r, absl::string_view what) const;
  PGconn* conn_;
};

// Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  ~Transaction();
  absl::Status Begin();
  absl::Status Commit();

 private:
  Connection& conn_;
  bool open_ = false;
};

}  // namespace rstmesh::postgres
