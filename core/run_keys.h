// Run keys: every run has its own random 32-byte key. The controller sends it to the run's
// agents; an initiator signs its test header with it (HMAC-SHA256, truncated to the
// header's authenticator); a responder acts only on a header that authenticates under the
// key of a run it knows and that has not expired, and only once per (task id, nonce).
//
// KeyRing is thread-safe.
#pragma once

#include "core/task_id.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/wire_header.h"

namespace rstmesh {

inline constexpr size_t kRunKeySize = 32;
using RunKey = std::array<uint8_t, kRunKeySize>;

// From the system's CSPRNG (OpenSSL RAND_bytes).
RunKey NewRunKey();
// kInvalidArgument unless `bytes` is exactly kRunKeySize long.
absl::StatusOr<RunKey> RunKeyFromBytes(std::string_view bytes);
// 64 hex digits (for key files).
absl::StatusOr<RunKey> RunKeyFromHex(std::string_view hex);

// Writes the authenticator of an encoded header under `key`.
void SignHeader(std::array<uint8_t, kHeaderSize>& bytes, const RunKey& key);

inline uint32_t RunOfTask(uint64_t task_id) { return TaskId::FromRaw(task_id).run(); }

enum class KeyCheck { kOk, kUnknownRun, kExpired, kBadAuthenticator, kReplayed };
const char* KeyCheckName(KeyCheck check);

class KeyRing {
 public:
  using Clock = std::chrono::steady_clock;
  // A run's key, valid until `expires`. Setting it again renews the expiry.
  void Put(uint32_t run, const RunKey& key, Clock::time_point expires);
  void Forget(uint32_t run);
  // Standalone use (`rstmesh-agent serve --key-file`): one key for every run, no expiry.
  void SetSharedKey(const RunKey& key);
  bool Has(uint32_t run) const;
  size_t size() const;

  // Checks a received header (`bytes` as read, `header` as decoded from them) and, when it
  // passes, remembers its (task id, nonce) so that it never passes again.
  KeyCheck Verify(const std::array<uint8_t, kHeaderSize>& bytes, const TestHeader& header);

 private:
  struct Entry {
    RunKey key;
    Clock::time_point expires;
    std::set<std::pair<uint64_t, uint64_t>> seen;  // (task id, nonce) already acted on
  };
  mutable absl::Mutex mu_;
  std::map<uint32_t, Entry> runs_ ABSL_GUARDED_BY(mu_);
  std::optional<RunKey> shared_ ABSL_GUARDED_BY(mu_);
  // Runs that expired or were forgotten, so that a late header is told apart from a
  // header of a run never heard of (bounded: the most recent ones).
  std::set<uint32_t> ended_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rstmesh
