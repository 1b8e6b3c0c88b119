// The responder holds 1,000 concurrent test connections, and beyond its configured limit
// closes new ones at once and counts them.
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "agent/process_limits.h"
#include "core/closure.h"
#include "tests/support/raw_client.h"
#include "tests/support/two_agents.h"

namespace rstmesh {
namespace {

using std::chrono::seconds;
using testing::WaitFor;

class CapacityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RaiseFileLimit(); }
};

// idle_hold keeps every connection open for the idle time, so all of them are concurrent.
std::vector<std::future<v1::Observation>> StartIdleTasks(testing::TwoAgents& agents, int n,
                                                         uint32_t idle_ms,
                                                         std::vector<Task>* tasks) {
  v1::ScenarioParams params;
  params.set_idle_ms(idle_ms);
  std::vector<std::future<v1::Observation>> futures;
  for (int i = 0; i < n; ++i) {
    tasks->push_back(agents.MakeTask(v1::SCENARIO_IDLE_HOLD, params));
    futures.push_back(agents.Run(tasks->back()));
  }
  return futures;
}

TEST_F(CapacityTest, ServesAThousandConcurrentConnections) {
  constexpr int kConnections = 1000;
  ResponderOptions options;
  options.max_connections = kConnections;
  testing::TwoAgents agents("127.0.0.1", "127.0.0.2", options);
  ASSERT_TRUE(agents.started());
  std::vector<Task> tasks;
  auto futures = StartIdleTasks(agents, kConnections, 4000, &tasks);
  EXPECT_TRUE(
      WaitFor([&] { return agents.responder().counters().active == kConnections; }, seconds(30)))
      << "active=" << agents.responder().counters().active;
  int matched = 0;
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(seconds(60)), std::future_status::ready);
    v1::Observation obs = f.get();
    if (obs.matched()) {
      ++matched;
    } else {
      ADD_FAILURE() << obs.ShortDebugString();
    }
  }
  EXPECT_EQ(matched, kConnections);
  for (const Task& task : tasks) {
    auto resp = agents.ResponderObservation(task.task_id, seconds(10));
    ASSERT_TRUE(resp.has_value());
    EXPECT_TRUE(resp->matched()) << resp->ShortDebugString();
  }
  ResponderCounters c = agents.responder().counters();
  EXPECT_EQ(c.peak_active, static_cast<uint64_t>(kConnections));
  EXPECT_EQ(c.tests_completed, static_cast<uint64_t>(kConnections));
  EXPECT_EQ(c.over_limit, 0u);
  EXPECT_TRUE(WaitFor([&] { return agents.responder().counters().active == 0; }, seconds(10)));
}

TEST_F(CapacityTest, BeyondTheLimitNewConnectionsAreClosedAndCounted) {
  constexpr int kLimit = 20;
  constexpr int kExtra = 5;
  ResponderOptions options;
  options.max_connections = kLimit;
  testing::TwoAgents agents("127.0.0.1", "127.0.0.2", options);
  ASSERT_TRUE(agents.started());
  std::vector<Task> held;
  auto holding = StartIdleTasks(agents, kLimit, 3000, &held);
  ASSERT_TRUE(WaitFor([&] { return agents.responder().counters().active == kLimit; }, seconds(20)));
  std::vector<Task> extra;
  auto refused = StartIdleTasks(agents, kExtra, 3000, &extra);
  for (auto& f : refused) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    v1::Observation obs = f.get();
    EXPECT_FALSE(obs.matched()) << "a connection beyond the limit was served";
    EXPECT_TRUE(obs.observed() == v1::CLOSURE_FIN || obs.observed() == v1::CLOSURE_RST)
        << ClosureName(obs.observed());
  }
  ResponderCounters c = agents.responder().counters();
  EXPECT_EQ(c.over_limit, static_cast<uint64_t>(kExtra));
  EXPECT_LE(c.peak_active, static_cast<uint64_t>(kLimit));
  for (auto& f : holding) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    v1::Observation obs = f.get();
    EXPECT_TRUE(obs.matched()) << obs.ShortDebugString();
  }
  EXPECT_EQ(agents.responder().counters().tests_completed, static_cast<uint64_t>(kLimit));
  for (const Task& task : extra) {
    EXPECT_FALSE(agents.ResponderObservation(task.task_id, std::chrono::milliseconds(0)));
  }
}

// One address cannot take the port for itself: beyond max_per_source its new connections
// are closed and counted, while another address is still served.
TEST_F(CapacityTest, BeyondThePerSourceLimitOneAddressIsClosedOthersServed) {
  constexpr int kPerSource = 6;
  ResponderOptions options;
  options.max_per_source = kPerSource;
  testing::TwoAgents agents("127.0.0.1", "127.0.0.2", options);
  ASSERT_TRUE(agents.started());
  std::vector<Task> held;
  auto holding = StartIdleTasks(agents, kPerSource, 2000, &held);
  ASSERT_TRUE(
      WaitFor([&] { return agents.responder().counters().active == kPerSource; }, seconds(20)));
  std::vector<std::unique_ptr<testing::RawClient>> extra;
  for (int i = 0; i < 3; ++i) {
    extra.push_back(std::make_unique<testing::RawClient>(agents.responder().data_endpoint()));
  }
  for (auto& client : extra) EXPECT_TRUE(client->WaitClosedByPeer(seconds(10)));
  EXPECT_EQ(agents.responder().counters().over_source_limit, 3u);
  // Another source address is served at once.
  Task other = agents.MakeTask(v1::SCENARIO_GRACEFUL_CLOSE);
  other.source = asio::ip::make_address("127.0.0.3");
  auto served = agents.Run(other);
  ASSERT_EQ(served.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_TRUE(served.get().matched());
  for (auto& f : holding) {
    ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
    EXPECT_TRUE(f.get().matched());
  }
  // Their slots are given back: the address is served again.
  auto again = agents.Run(agents.MakeTask(v1::SCENARIO_GRACEFUL_CLOSE));
  ASSERT_EQ(again.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_TRUE(again.get().matched());
  EXPECT_EQ(agents.responder().counters().over_source_limit, 3u);
}

}  // namespace
}  // namespace rstmesh
