#include "controller/postgres_connection.h"

#include <poll.h>

#include <cerrno>

#include <endian.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rstmesh::postgres {
namespace {

constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;
constexpr Oid kBytea = 17;

std::string Trimmed(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  return message;
}

}  // namespace

std::string Redacted(const std::string& dsn) {
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), nullptr);
  if (options == nullptr) return "(unparsable DSN)";
  std::string user, host, port, dbname;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword;
    if (key == "user") user = o->val;
    if (key == "host") host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
  }
  PQconninfoFree(options);
  return absl::StrCat("postgresql://", user, user.empty() ? "" : "@", host, port.empty() ? "" : ":",
                      port, "/", dbname);
}

absl::Status CheckDsn(const std::string& dsn) {
  const bool uri = dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
  if (!uri && dsn.find('=') == std::string::npos) {
    return absl::InvalidArgumentError(
        "not a PostgreSQL DSN (postgresql://USER@HOST:PORT/DB?sslmode=verify-full, or "
        "key=value pairs)");
  }
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    // libpq's parse errors name the bad part, never a password's value.
    std::string why = error != nullptr ? Trimmed(error) : "unparsable";
    PQfreemem(error);
    return absl::InvalidArgumentError(why);
  }
  PQconninfoFree(options);
  return absl::OkStatus();
}

Params& Params::Text(const std::string& s) { return Add(kText, s.data(), s.size()); }
Params& Params::Bytes(const std::string& s) { return Add(kBytea, s.data(), s.size()); }
Params& Params::Int(int64_t v) {
  ints_.push_back(static_cast<int64_t>(htobe64(static_cast<uint64_t>(v))));
  return Add(kInt8, nullptr, sizeof(int64_t), static_cast<ptrdiff_t>(ints_.size() - 1));
}

Params& Params::Add(Oid type, const char* data, size_t size, ptrdiff_t int_index) {
  types_.push_back(type);
  values_.push_back(data);
  int_index_.push_back(int_index);
  lengths_.push_back(static_cast<int>(size));
  formats_.push_back(1);
  return *this;
}

std::vector<const char*> Params::values() const {
  std::vector<const char*> out(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) {
    out[i] = int_index_[i] >= 0 ? reinterpret_cast<const char*>(&ints_[int_index_[i]]) : values_[i];
  }
  return out;
}

std::string Result::Bytes(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), PQgetlength(r_, row, col));
}

int64_t Result::Int(int row, int col) const {
  uint64_t v = 0;
  std::memcpy(&v, PQgetvalue(r_, row, col), sizeof(v));
  return static_cast<int64_t>(be64toh(v));
}

bool Result::Bool(int row, int col) const {
  return PQgetlength(r_, row, col) == 1 && PQgetvalue(r_, row, col)[0] != 0;
}

int64_t Result::Affected() const { return std::atoll(PQcmdTuples(r_)); }

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& dsn) {
  // Keywords before the expanded DSN are defaults it may override.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "rstmesh-controller", dsn.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(
        absl::StrCat("store: cannot connect to PostgreSQL at ", Redacted(dsn), ": ", message));
  }
  // CREATE ... IF NOT EXISTS and the like say so as notices: not for the controller's log.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

absl::StatusOr<bool> Connection::Reconnect() {
  if (PQstatus(conn_) == CONNECTION_OK) return false;
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("store: PostgreSQL connection lost: ", Trimmed(PQerrorMessage(conn_))));
  }
  return true;
}

absl::Status Connection::Failed(const PGresult* r, absl::string_view what) const {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string text =
      absl::StrCat("store: ", what, ": ",
                   Trimmed(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_)));
  if (state != nullptr && std::strcmp(state, "23505") == 0) return absl::AlreadyExistsError(text);
  // Class 08: connection exceptions; 57P01..57P03: the server is shutting down or starting.
  if (PQstatus(conn_) != CONNECTION_OK ||
      (state != nullptr &&
       (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P", 3) == 0))) {
    return absl::UnavailableError(text);
  }
  return absl::InternalError(text);
}

absl::StatusOr<std::unique_ptr<Result>> Connection::Run(const std::string& sql,
                                                        const Params& params,
                                                        absl::string_view what) {
  std::vector<const char*> values = params.values();
  auto result = std::make_unique<Result>(
      PQexecParams(conn_, sql.c_str(), params.size(), params.types_.data(), values.data(),
                   params.lengths_.data(), params.formats_.data(), /*resultFormat=*/1));
  const ExecStatusType status = PQresultStatus(result->r_);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Failed(result->r_, what);
  return result;
}

absl::Status Connection::Exec(const char* sql, absl::string_view what) {
  Result result(PQexec(conn_, sql));
  const ExecStatusType status = PQresultStatus(result.r_);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Failed(result.r_, what);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Connection::Notification>> Connection::AwaitNotifications(
    std::chrono::milliseconds timeout) {
  std::vector<Notification> out;
  auto take = [&] {
    while (PGnotify* n = PQnotifies(conn_)) {
      out.push_back(Notification{n->relname, n->extra != nullptr ? n->extra : ""});
      PQfreemem(n);
    }
  };
  auto lost = [&] {
    return absl::UnavailableError(
        absl::StrCat("store: PostgreSQL connection lost: ", Trimmed(PQerrorMessage(conn_))));
  };
  if (PQconsumeInput(conn_) == 0) return lost();
  take();
  if (!out.empty()) return out;
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (fd.fd < 0) return lost();
  const int ready = poll(&fd, 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR) return lost();
  if (ready > 0) {
    if (PQconsumeInput(conn_) == 0) return lost();
    take();
  }
  return out;
}

Transaction::~Transaction() {
  if (open_) conn_.Run("ROLLBACK", "rollback").IgnoreError();
}

absl::Status Transaction::Begin() {
  absl::Status s = conn_.Run("BEGIN", "begin").status();
  open_ = s.ok();
  return s;
}

absl::Status Transaction::Commit() {
  open_ = false;
  return conn_.Run("COMMIT", "commit").status();
}

}  // namespace rstmesh::postgres
