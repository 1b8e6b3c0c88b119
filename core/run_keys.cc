#include "core/run_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {

constexpr size_t kMaxEndedRuns = 4096;
constexpr size_t kMaxSeenPerRun = 1 << 20;  // 16 MiB at most for one run's replay memory

std::array<uint8_t, kAuthenticatorSize> Mac(const std::array<uint8_t, kHeaderSize>& bytes,
                                            const RunKey& key) {
  uint8_t full[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes.data(), kSignedSize, full,
       &length);
  std::array<uint8_t, kAuthenticatorSize> mac{};
  std::copy(full, full + kAuthenticatorSize, mac.begin());
  return mac;
}

}  // namespace

RunKey NewRunKey() {
  RunKey key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    // No entropy is not something to run deliberate resets without.
    std::abort();
  }
  return key;
}

absl::StatusOr<RunKey> RunKeyFromBytes(std::string_view bytes) {
  if (bytes.size() != kRunKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("run key: ", bytes.size(), " bytes, expected ", kRunKeySize));
  }
  RunKey key;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

absl::StatusOr<RunKey> RunKeyFromHex(std::string_view hex) {
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) {
    hex.remove_suffix(1);
  }
  if (hex.size() != 2 * kRunKeySize ||
      hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("key: expected ", 2 * kRunKeySize,
                                                   " hex digits (e.g. from "
                                                   "'openssl rand -hex 32')"));
  }
  return RunKeyFromBytes(absl::HexStringToBytes(absl::string_view(hex.data(), hex.size())));
}

void SignHeader(std::array<uint8_t, kHeaderSize>& bytes, const RunKey& key) {
  auto mac = Mac(bytes, key);
  std::copy(mac.begin(), mac.end(), bytes.begin() + kSignedSize);
}

const char* KeyCheckName(KeyCheck check) {
  switch (check) {
    case KeyCheck::kOk:
      return "ok";
    case KeyCheck::kUnknownRun:
      return "unknown_run";
    case KeyCheck::kExpired:
      return "expired_run";
    case KeyCheck::kBadAuthenticator:
      return "bad_authenticator";
    case KeyCheck::kReplayed:
      return "replayed";
  }
  return "?";
}

void KeyRing::Put(uint32_t run, const RunKey& key, Clock::time_point expires) {
  absl::MutexLock lock(&mu_);
  Entry& e = runs_[run];
  e.key = key;
  e.expires = expires;
  ended_.erase(run);
}

void KeyRing::Forget(uint32_t run) {
  absl::MutexLock lock(&mu_);
  if (runs_.erase(run) > 0) {
    ended_.insert(run);
    while (ended_.size() > kMaxEndedRuns) ended_.erase(ended_.begin());
  }
}

void KeyRing::SetSharedKey(const RunKey& key) {
  absl::MutexLock lock(&mu_);
  shared_ = key;
}

bool KeyRing::Has(uint32_t run) const {
  absl::MutexLock lock(&mu_);
  return shared_.has_value() || runs_.count(run) > 0;
}

size_t KeyRing::size() const {
  absl::MutexLock lock(&mu_);
  return runs_.size();
}

KeyCheck KeyRing::Verify(const std::array<uint8_t, kHeaderSize>& bytes, const TestHeader& header) {
  const uint32_t run = RunOfTask(header.task_id);
  absl::MutexLock lock(&mu_);
  auto it = runs_.find(run);
  if (it == runs_.end() && shared_.has_value()) {
    it = runs_.emplace(run, Entry{*shared_, Clock::time_point::max(), {}}).first;
  }
  if (it == runs_.end()) return ended_.count(run) ? KeyCheck::kExpired : KeyCheck::kUnknownRun;
  Entry& e = it->second;
  if (Clock::now() >= e.expires) {
    runs_.erase(it);
    ended_.insert(run);
    return KeyCheck::kExpired;
  }
  auto mac = Mac(bytes, e.key);
  if (CRYPTO_memcmp(mac.data(), header.authenticator.data(), kAuthenticatorSize) != 0) {
    return KeyCheck::kBadAuthenticator;
  }
  if (e.seen.size() >= kMaxSeenPerRun) return KeyCheck::kReplayed;  // memory stays bounded
  if (!e.seen.emplace(header.task_id, header.nonce).second) return KeyCheck::kReplayed;
  return KeyCheck::kOk;
}

}  // namespace rstmesh
