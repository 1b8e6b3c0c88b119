// Agent liveness with a hand-driven clock: a broken stream is not a loss, only a lease that
// runs out is; a reconnect inside the lease changes nothing; a new process under the same
// id is a restart, not a loss; a silent stream is closed but its agent kept.
#include "controller/agent_registry.h"

#include <gtest/gtest.h>

#include <vector>

namespace rstmesh {
namespace {

using std::chrono::seconds;

class Link : public AgentConnection {
 public:
  bool Send(v1::ControllerMessage message) override {
    if (message.has_welcome()) told_ms = message.welcome().heartbeat_interval_ms();
    return !closed;
  }
  void Close() override { closed = true; }
  bool closed = false;
  uint32_t told_ms = 0;  // the last heartbeat interval a welcome asked for
};

v1::AgentInfo Info(const std::string& id, const std::string& incarnation) {
  v1::AgentInfo info;
  info.set_id(id);
  info.set_data_endpoint("127.0.0.1:7402");
  info.set_incarnation(incarnation);
  return info;
}

class AgentRegistryTest : public ::testing::Test {
 protected:
  AgentRegistryTest() : registry_(seconds(30), &clock_) {
    registry_.set_on_lost([this](const std::string& id) { lost_.push_back(id); });
    registry_.set_on_restarted([this](const std::string& id) { restarted_.push_back(id); });
  }
  ManualClock clock_;
  AgentRegistry registry_;
  std::vector<std::string> lost_, restarted_;
};

TEST_F(AgentRegistryTest, BrokenStreamIsNotALossUntilTheLeaseRunsOut) {
  auto link = std::make_shared<Link>();
  registry_.Register(Info("a", "p1"), link);
  registry_.Unregister("a", link.get());
  EXPECT_FALSE(registry_.IsConnected("a"));
  ASSERT_EQ(registry_.Agents().size(), 1u) << "a member until its lease expires";
  EXPECT_FALSE(registry_.Agents()[0].connected());
  clock_.Advance(seconds(29));
  EXPECT_TRUE(registry_.ExpireSilent(seconds(5)).empty());
  EXPECT_TRUE(lost_.empty());
  clock_.Advance(seconds(2));
  EXPECT_EQ(registry_.ExpireSilent(seconds(5)), std::vector<std::string>{"a"});
  EXPECT_EQ(lost_, std::vector<std::string>{"a"});
  EXPECT_TRUE(registry_.Agents().empty());
}

TEST_F(AgentRegistryTest, ReconnectInsideTheLeaseChangesNothing) {
  auto first = std::make_shared<Link>();
  registry_.Register(Info("a", "p1"), first);
  registry_.Unregister("a", first.get());
  clock_.Advance(seconds(20));
  registry_.Register(Info("a", "p1"), std::make_shared<Link>());
  clock_.Advance(seconds(20));
  registry_.Heartbeat("a");
  EXPECT_TRUE(registry_.ExpireSilent(seconds(5)).empty());
  EXPECT_TRUE(registry_.IsConnected("a"));
  EXPECT_TRUE(lost_.empty());
  EXPECT_TRUE(restarted_.empty());
  // The stale stream's end, arriving late, does not disconnect the new one.
  registry_.Unregister("a", first.get());
  EXPECT_TRUE(registry_.IsConnected("a"));
}

TEST_F(AgentRegistryTest, NewProcessUnderTheSameIdIsARestartNotALoss) {
  auto old_link = std::make_shared<Link>();
  registry_.Register(Info("a", "p1"), old_link);
  registry_.Register(Info("a", "p2"), std::make_shared<Link>());
  EXPECT_TRUE(old_link->closed);
  EXPECT_EQ(restarted_, std::vector<std::string>{"a"});
  EXPECT_TRUE(lost_.empty());
  EXPECT_EQ(registry_.LivenessOf("a")->incarnation, "p2");
}

TEST_F(AgentRegistryTest, SilentStreamIsClosedAndItsAgentKeptForItsLease) {
  auto link = std::make_shared<Link>();
  registry_.Register(Info("a", "p1"), link);
  clock_.Advance(seconds(6));
  EXPECT_TRUE(registry_.ExpireSilent(seconds(5)).empty());
  EXPECT_TRUE(link->closed);
  EXPECT_FALSE(registry_.IsConnected("a"));
  EXPECT_EQ(registry_.Agents().size(), 1u);
  // The lease counts from the last word heard.
  clock_.Advance(seconds(25));
  EXPECT_EQ(registry_.ExpireSilent(seconds(5)), std::vector<std::string>{"a"});
}

// A fleet of 40 with a budget of 10 heartbeats a second: agents are asked to beat every
// 1 s while that fits, then (as it grows) less often, and all connected ones are told when
// the interval grew by a quarter; each agent's silence is judged against its own interval.
TEST(AgentRegistryHeartbeatTest, LargerFleetBeatsLessOftenWithinTheBudget) {
  ManualClock clock;
  AgentRegistry registry(seconds(30), &clock,
                         AgentHeartbeatPolicy{std::chrono::milliseconds(1000), seconds(10), 10});
  std::vector<std::shared_ptr<Link>> links;
  for (int i = 0; i < 40; ++i) {
    const auto interval = registry.HeartbeatIntervalForNewAgent();
    if (i < 10) {
      EXPECT_EQ(interval, std::chrono::milliseconds(1000)) << i;
    }
    links.push_back(std::make_shared<Link>());
    registry.Register(Info("a" + std::to_string(i), "p"), links.back(), interval);
  }
  EXPECT_EQ(registry.HeartbeatIntervalForNewAgent(), std::chrono::milliseconds(4100));
  // Told at 13 members (1.3 s), 17, 22, 28, 35 and 44: the first agent as well as later ones.
  EXPECT_EQ(links.front()->told_ms, 3500u);
  EXPECT_EQ(links[25]->told_ms, 3500u);
  // 3 intervals of silence (10.5 s), not the 5 s silence limit, closes a stream.
  for (int i = 1; i < 40; ++i) registry.Heartbeat("a" + std::to_string(i));
  clock.Advance(seconds(10));
  for (int i = 1; i < 40; ++i) registry.Heartbeat("a" + std::to_string(i));
  registry.ExpireSilent(seconds(5));
  EXPECT_TRUE(registry.IsConnected("a0"));
  clock.Advance(seconds(1));
  registry.ExpireSilent(seconds(5));
  EXPECT_FALSE(registry.IsConnected("a0"));
  EXPECT_TRUE(registry.IsConnected("a1"));
}

}  // namespace
}  // namespace rstmesh
