// Bad input on the data port: each kind is closed without being acted on, counted under its
// reason, produces no observation, and a valid test passes right after.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "agent/process_limits.h"
#include "core/run_keys.h"
#include "core/scenario.h"
#include "core/wire_header.h"
#include "tests/support/raw_client.h"
#include "tests/support/two_agents.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::RawClient;
using testing::WaitFor;

// The responder's key for run 0 (the task ids TwoAgents hands out).
const RunKey& TestKey() {
  static const RunKey key = NewRunKey();
  return key;
}

// Encoded with a fresh nonce and signed under `key` (TestKey() unless given).
std::vector<uint8_t> HeaderBytes(TestHeader header, std::optional<RunKey> key = TestKey()) {
  static std::mt19937_64 rng(7);
  header.nonce = rng();
  auto bytes = EncodeHeader(header);
  if (key) SignHeader(bytes, *key);
  return {bytes.begin(), bytes.end()};
}

TestHeader ValidHeader(v1::Scenario scenario = v1::SCENARIO_GRACEFUL_CLOSE) {
  TestHeader header;
  header.scenario = scenario;
  header.task_id = 777;
  header.params = ResolveParams(*FindScenario(scenario), {});
  return header;
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RaiseFileLimit(); }

  BadInputTest() : keys_(MakeKeys()), agents_("127.0.0.1", "127.0.0.2", Options(keys_)) {}

  // The data port knows run 0's key, as an agent under a controller knows its runs' keys.
  static std::shared_ptr<KeyRing> MakeKeys() {
    auto keys = std::make_shared<KeyRing>();
    keys->Put(0, TestKey(), KeyRing::Clock::now() + std::chrono::hours(1));
    return keys;
  }

  static ResponderOptions Options(std::shared_ptr<KeyRing> keys) {
    ResponderOptions options;
    options.header_timeout = milliseconds(300);
    options.keys = std::move(keys);
    options.key_wait = milliseconds(200);
    return options;
  }

  // Sends `bytes` on a fresh connection (optionally half-closing), expects the responder
  // to close it, and expects `counter` (read from the responder's counters) to rise by one
  // and nothing else to happen.
  template <typename Counter>
  void ExpectRejected(const std::vector<uint8_t>& bytes, Counter counter, bool shutdown_write) {
    const ResponderCounters before = agents_.responder().counters();
    const size_t observations = agents_.responder_observation_count();
    {
      RawClient client(agents_.responder().data_endpoint());
      ASSERT_GE(client.fd(), 0);
      ASSERT_TRUE(client.Send(bytes));
      if (shutdown_write) client.ShutdownWrite();
      EXPECT_TRUE(client.WaitClosedByPeer(seconds(5))) << "the responder kept the connection";
    }
    EXPECT_TRUE(WaitFor(
        [&] { return counter(agents_.responder().counters()) == counter(before) + 1; }, seconds(5)))
        << "counter did not rise by one";
    const ResponderCounters after = agents_.responder().counters();
    EXPECT_EQ(after.rejected(), before.rejected() + 1) << "counted under exactly one reason";
    EXPECT_EQ(after.tests_completed, before.tests_completed) << "acted on bad input";
    EXPECT_EQ(agents_.responder_observation_count(), observations);
    ExpectValidTestPasses();
  }

  void ExpectValidTestPasses() {
    Task task = agents_.MakeTask(v1::SCENARIO_GRACEFUL_CLOSE);
    task.key = TestKey();
    auto future = agents_.Run(task);
    ASSERT_EQ(future.wait_for(seconds(20)), std::future_status::ready);
    v1::Observation init = future.get();
    const ResponderCounters c = agents_.responder().counters();
    EXPECT_TRUE(init.matched()) << init.ShortDebugString() << " unknown_run=" << c.unknown_run
                                << " expired=" << c.expired_run << " replayed=" << c.replayed
                                << " bad_auth=" << c.bad_authenticator;
    auto resp = agents_.ResponderObservation(task.task_id, seconds(10));
    ASSERT_TRUE(resp.has_value());
    EXPECT_TRUE(resp->matched()) << resp->ShortDebugString();
  }

  std::shared_ptr<KeyRing> keys_;
  testing::TwoAgents agents_;
};

TEST_F(BadInputTest, RandomBytes) {
  std::mt19937 rng(42);
  std::vector<uint8_t> bytes(4096);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  bytes[0] = 0;  // never the magic's first byte
  ExpectRejected(
      bytes, [](const ResponderCounters& c) { return c.bad_magic; }, false);
}

TEST_F(BadInputTest, TruncatedHeader) {
  std::vector<uint8_t> bytes = HeaderBytes(ValidHeader());
  bytes.resize(30);
  ExpectRejected(
      bytes, [](const ResponderCounters& c) { return c.truncated; }, true);
}

TEST_F(BadInputTest, WrongMagic) {
  std::vector<uint8_t> bytes = HeaderBytes(ValidHeader());
  bytes[3] ^= 0xFF;
  ExpectRejected(
      bytes, [](const ResponderCounters& c) { return c.bad_magic; }, false);
}

TEST_F(BadInputTest, UnknownVersion) {
  for (uint16_t version : {1, 3, 0xFFFF}) {  // 1: before run keys
    TestHeader header = ValidHeader();
    header.version = version;
    ExpectRejected(
        HeaderBytes(header), [](const ResponderCounters& c) { return c.bad_version; }, false);
  }
}

TEST_F(BadInputTest, UnknownScenario) {
  for (uint16_t id : {0, 10, 999}) {
    SCOPED_TRACE(id);
    TestHeader header = ValidHeader();
    header.scenario = static_cast<v1::Scenario>(id);
    ExpectRejected(
        HeaderBytes(header), [](const ResponderCounters& c) { return c.bad_scenario; }, false);
  }
}

TEST_F(BadInputTest, RefusedNeverReachesTheDataPort) {
  ExpectRejected(
      HeaderBytes(ValidHeader(v1::SCENARIO_REFUSED)),
      [](const ResponderCounters& c) { return c.bad_scenario; }, false);
}

TEST_F(BadInputTest, OutOfRangeParameters) {
  TestHeader too_much = ValidHeader();
  too_much.params.set_request_bytes(kMaxRequestBytes + 1);
  TestHeader too_idle = ValidHeader(v1::SCENARIO_IDLE_HOLD);
  too_idle.params.set_idle_ms(kMaxIdleMs + 1);
  TestHeader read_all = ValidHeader(v1::SCENARIO_RESET_MID_TRANSFER);
  read_all.params.set_read_limit(read_all.params.request_bytes());  // no reset mid-transfer
  TestHeader huge_response = ValidHeader();
  huge_response.params.set_response_bytes(0xFFFFFFFF);
  for (const TestHeader& header : {too_much, too_idle, read_all, huge_response}) {
    SCOPED_TRACE(header.params.ShortDebugString());
    ExpectRejected(
        HeaderBytes(header), [](const ResponderCounters& c) { return c.bad_params; }, false);
  }
}

TEST_F(BadInputTest, HeaderThatDoesNotAuthenticate) {
  auto bad_authenticator = [](const ResponderCounters& c) { return c.bad_authenticator; };
  ExpectRejected(HeaderBytes(ValidHeader(), std::nullopt), bad_authenticator, false);  // unsigned
  ExpectRejected(HeaderBytes(ValidHeader(), NewRunKey()), bad_authenticator, false);   // wrong key
  std::vector<uint8_t> flipped = HeaderBytes(ValidHeader());
  flipped[kHeaderSize - 1] ^= 1;
  ExpectRejected(flipped, bad_authenticator, false);
  // Every signed field is covered: a field changed after signing is caught.
  std::vector<uint8_t> tampered = HeaderBytes(ValidHeader());
  tampered[19] ^= 0x10;  // request_bytes
  ExpectRejected(tampered, bad_authenticator, false);
}

TEST_F(BadInputTest, UnknownExpiredAndRevokedRuns) {
  TestHeader unknown = ValidHeader();
  unknown.task_id = uint64_t{5} << 32 | 1;  // run 5: no key ever came
  ExpectRejected(
      HeaderBytes(unknown), [](const ResponderCounters& c) { return c.unknown_run; }, false);
  const RunKey key = NewRunKey();
  keys_->Put(6, key, KeyRing::Clock::now() - milliseconds(1));
  keys_->Put(7, key, KeyRing::Clock::now() + std::chrono::hours(1));
  keys_->Forget(7);  // the run ended
  for (uint64_t run : {6, 7}) {
    TestHeader late = ValidHeader();
    late.task_id = run << 32 | 1;
    ExpectRejected(
        HeaderBytes(late, key), [](const ResponderCounters& c) { return c.expired_run; }, false);
  }
}

TEST_F(BadInputTest, ReplayedHeaderIsNotActedOnTwice) {
  const std::vector<uint8_t> bytes = HeaderBytes(ValidHeader());
  const size_t observations = agents_.responder_observation_count();
  {
    RawClient first(agents_.responder().data_endpoint());
    ASSERT_TRUE(first.Send(bytes));
    std::vector<uint8_t> request(ValidHeader().params.request_bytes(), 'r');
    ASSERT_TRUE(first.Send(request));
    EXPECT_TRUE(first.WaitClosedByPeer(seconds(10)));
  }
  ASSERT_TRUE(WaitFor([&] { return agents_.responder_observation_count() == observations + 1; },
                      seconds(10)))
      << "the genuine header was acted on";
  ExpectRejected(
      bytes, [](const ResponderCounters& c) { return c.replayed; }, false);
}

TEST_F(BadInputTest, HeaderThatNeverCompletes) {
  std::vector<uint8_t> bytes = HeaderBytes(ValidHeader());
  bytes.resize(10);  // a slow sender: ten bytes, then nothing, connection left open
  ExpectRejected(
      bytes, [](const ResponderCounters& c) { return c.header_timeout; }, false);
}

TEST_F(BadInputTest, ThousandGarbageConnectionsInABurst) {
  constexpr int kBurst = 1000;
  const ResponderCounters before = agents_.responder().counters();
  std::vector<uint8_t> garbage(64, 0x5A);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kBurst; ++i) {
    auto client = std::make_unique<RawClient>(agents_.responder().data_endpoint());
    ASSERT_GE(client->fd(), 0) << "connection " << i;
    ASSERT_TRUE(client->Send(garbage));
    clients.push_back(std::move(client));
  }
  for (auto& client : clients) EXPECT_TRUE(client->WaitClosedByPeer(seconds(20)));
  EXPECT_TRUE(
      WaitFor([&] { return agents_.responder().counters().bad_magic == before.bad_magic + kBurst; },
              seconds(20)));
  const ResponderCounters after = agents_.responder().counters();
  EXPECT_EQ(after.accepted, before.accepted + kBurst);
  EXPECT_EQ(after.tests_completed, before.tests_completed);
  EXPECT_EQ(after.over_limit, 0u);
  EXPECT_EQ(agents_.responder_observation_count(), 0u);
  for (int i = 0; i < 3; ++i) ExpectValidTestPasses();
}

}  // namespace
}  // namespace rstmesh
