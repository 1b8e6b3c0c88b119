// Run keys: a header signed under its run's key passes once; any change to a signed byte, a
// wrong key, an unknown, expired or revoked run, or a replay does not.
#include "core/run_keys.h"

#include <gtest/gtest.h>

namespace rstmesh {
namespace {

std::array<uint8_t, kHeaderSize> Signed(const TestHeader& h, const RunKey& key) {
  auto bytes = EncodeHeader(h);
  SignHeader(bytes, key);
  return bytes;
}

TestHeader Header(uint32_t run, uint32_t task, uint64_t nonce) {
  TestHeader h;
  h.scenario = v1::SCENARIO_GRACEFUL_CLOSE;
  h.task_id = uint64_t{run} << 32 | task;
  h.params.set_request_bytes(512);
  h.params.set_response_bytes(1024);
  h.nonce = nonce;
  return h;
}

KeyCheck Check(KeyRing& ring, const std::array<uint8_t, kHeaderSize>& bytes) {
  absl::StatusOr<TestHeader> decoded = DecodeHeader(bytes);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return ring.Verify(bytes, *decoded);
}

TEST(RunKeysTest, SignedHeaderPassesOnceAndOnlyUnderItsKey) {
  const RunKey key = NewRunKey();
  EXPECT_NE(key, NewRunKey()) << "keys are random";
  KeyRing ring;
  ring.Put(3, key, KeyRing::Clock::now() + std::chrono::hours(1));
  const auto bytes = Signed(Header(3, 1, 42), key);
  EXPECT_EQ(Check(ring, bytes), KeyCheck::kOk);
  EXPECT_EQ(Check(ring, bytes), KeyCheck::kReplayed);
  // The same task with a new nonce is a new connection (a retried task).
  EXPECT_EQ(Check(ring, Signed(Header(3, 1, 43), key)), KeyCheck::kOk);
  EXPECT_EQ(Check(ring, Signed(Header(3, 2, 42), NewRunKey())), KeyCheck::kBadAuthenticator);
  EXPECT_EQ(Check(ring, Signed(Header(4, 1, 42), key)), KeyCheck::kUnknownRun);
}

TEST(RunKeysTest, EverySignedByteIsCovered) {
  const RunKey key = NewRunKey();
  KeyRing ring;
  ring.Put(1, key, KeyRing::Clock::now() + std::chrono::hours(1));
  for (size_t i = 0; i < kHeaderSize; ++i) {
    auto bytes = Signed(Header(1, 7, 1000 + i), key);
    bytes[i] ^= 0x01;
    absl::StatusOr<TestHeader> decoded = DecodeHeader(bytes);
    if (!decoded.ok()) continue;  // magic, version, scenario: refused before the key
    KeyCheck check = ring.Verify(bytes, *decoded);
    // A flipped bit in the task id's run half points at a run nobody has a key for.
    if (i >= 8 && i < 12) {
      EXPECT_EQ(check, KeyCheck::kUnknownRun) << "byte " << i;
    } else {
      EXPECT_EQ(check, KeyCheck::kBadAuthenticator) << "byte " << i;
    }
  }
}

TEST(RunKeysTest, ExpiredAndRevokedRunsAreToldApartFromUnknownOnes) {
  const RunKey key = NewRunKey();
  KeyRing ring;
  ring.Put(1, key, KeyRing::Clock::now() - std::chrono::milliseconds(1));
  ring.Put(2, key, KeyRing::Clock::now() + std::chrono::hours(1));
  ring.Forget(2);
  EXPECT_EQ(Check(ring, Signed(Header(1, 1, 1), key)), KeyCheck::kExpired);
  EXPECT_EQ(Check(ring, Signed(Header(2, 1, 1), key)), KeyCheck::kExpired);
  EXPECT_FALSE(ring.Has(1));
  EXPECT_FALSE(ring.Has(2));
  // A key sent again (a resumed run) is valid again.
  ring.Put(2, key, KeyRing::Clock::now() + std::chrono::hours(1));
  EXPECT_EQ(Check(ring, Signed(Header(2, 1, 1), key)), KeyCheck::kOk);
}

TEST(RunKeysTest, KeysFromBytesAndHex) {
  EXPECT_FALSE(RunKeyFromBytes("short").ok());
  EXPECT_TRUE(RunKeyFromBytes(std::string(32, 'k')).ok());
  auto hex = RunKeyFromHex(std::string(64, 'a') + "\n");
  ASSERT_TRUE(hex.ok());
  EXPECT_EQ((*hex)[0], 0xaa);
  EXPECT_FALSE(RunKeyFromHex(std::string(63, 'a')).ok());
  EXPECT_FALSE(RunKeyFromHex(std::string(64, 'g')).ok());
}

}  // namespace
}  // namespace rstmesh
