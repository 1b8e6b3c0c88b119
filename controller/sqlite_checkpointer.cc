#include "controller/sqlite_checkpointer.h"

#include <memory>

#include "absl/strings/str_cat.h"

namespace rstmesh {

absl::StatusOr<std::unique_ptr<SqliteCheckpointer>> SqliteCheckpointer::Open(
    const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    absl::Status status = absl::UnavailableError(absl::StrCat(
        "store: cannot open ", path, " for checkpoints: ", db ? sqlite3_errmsg(db) : "no memory"));
    sqlite3_close(db);
    return status;
  }
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<SqliteCheckpointer>(new SqliteCheckpointer(db));
}

SqliteCheckpointer::SqliteCheckpointer(sqlite3* db) : db_(db) {
  thread_ = std::thread([this] { Loop(); });
}

SqliteCheckpointer::~SqliteCheckpointer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  sqlite3_close(db_);
}

int SqliteCheckpointer::WalHook(void* self, sqlite3* writer, const char* schema, int wal_pages) {
  auto* checkpointer = static_cast<SqliteCheckpointer*>(self);
  if (wal_pages >= kWalPagesHard) {
    // Behind: the writer copies what it can now (passive: it waits for no one).
    sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (wal_pages >= kWalPagesSoft) {
    absl::MutexLock lock(&checkpointer->mu_);
    checkpointer->due_ = true;
  }
  return SQLITE_OK;
}

uint64_t SqliteCheckpointer::checkpoints() const {
  absl::MutexLock lock(&mu_);
  return checkpoints_;
}

void SqliteCheckpointer::Loop() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return due_ || stopping_; };
    mu_.Await(absl::Condition(&ready));
    if (stopping_) return;
    due_ = false;
    mu_.Unlock();
    // Passive: copies the frames no reader still needs, without blocking the writer. The
    // writer starts the -wal file over once everything in it is copied. A failure (a full
    // disk) is the writer's to report: it fails the same way; the next commit retries this.
    const int rc =
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    mu_.Lock();
    if (rc == SQLITE_OK) ++checkpoints_;
  }
}

}  // namespace rstmesh
