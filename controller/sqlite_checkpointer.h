// SqliteCheckpointer: copies a WAL-mode SQLite database's committed pages from its -wal file
// into the database file on a connection and thread of its own, so that the connection that
// writes does not stop for it. SQLite otherwise does this inside the commit that crosses
// 1,000 WAL pages: reading them back, writing them again and syncing the file, while every
// agent waits for its acknowledgement (docs/run-engine.md, "The store writer").
//
// The writing connection tells it how large the WAL has grown after each commit
// (WalGrew, from SQLite's WAL hook). Past kWalPagesHard the writer checkpoints itself (the
// checkpointer cannot keep up, or cannot write): the -wal file stays bounded either way.
#pragma once

#include <sqlite3.h>

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace rstmesh {

class SqliteCheckpointer {
 public:
  static constexpr int kWalPagesSoft = 1000;    // SQLite's own threshold
  static constexpr int kWalPagesHard = 16'000;  // 64 MiB of 4 KiB pages

  // Opens its own connection to `path` (which the caller has opened, in WAL mode).
  static absl::StatusOr<std::unique_ptr<SqliteCheckpointer>> Open(const std::string& path);
  ~SqliteCheckpointer();  // waits for a checkpoint under way

  // Installed as `writer`'s WAL hook: after each of its commits.
  static int WalHook(void* self, sqlite3* writer, const char* schema, int wal_pages);

  uint64_t checkpoints() const;

 private:
  explicit SqliteCheckpointer(sqlite3* db);
  void Loop();

  mutable absl::Mutex mu_;
  sqlite3* const db_;  // used only by the thread (and closed after it)
  bool due_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t checkpoints_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace rstmesh
