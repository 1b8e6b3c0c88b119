// The pacer that keeps the schedules queued for agents within a budget of bytes: due
// schedules go in order while the budget allows, one that is larger than it goes alone, a
// schedule stops counting once its agent's stream has written it or after the hold, and a
// schedule due twice is sent once.
#include "controller/schedule_pacer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace rstmesh {
namespace {

using Clock = SchedulePacer::Clock;
using std::chrono::seconds;

class SchedulePacerTest : public ::testing::Test {
 protected:
  // Sends a schedule of `sizes[agent]` bytes (default 100), counting what went out.
  size_t Send(const std::string& run, const std::string& agent) {
    sent.emplace_back(run, agent);
    auto it = sizes.find(agent);
    return it == sizes.end() ? 100 : it->second;
  }
  void Pump(Clock::time_point now) {
    pacer.Pump(
        now, [this](const std::string& agent) { return written.count(agent) > 0; },
        [this](const std::string& run, const std::string& agent) { return Send(run, agent); });
  }

  SchedulePacer pacer{250, seconds(2)};
  std::map<std::string, size_t> sizes;
  std::set<std::string> written;
  std::vector<std::pair<std::string, std::string>> sent;
  Clock::time_point t0 = Clock::now();
};

TEST_F(SchedulePacerTest, SendsWithinTheBudgetInOrderAndGoesOnAsStreamsWrite) {
  for (const char* agent : {"a", "b", "c", "d", "e"}) pacer.Due("run-1", agent);
  Pump(t0);
  // 100 + 100 < 250, then a third goes over: the budget is checked before each.
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].second, "a");
  EXPECT_EQ(sent[2].second, "c");
  EXPECT_EQ(pacer.bytes_in_flight(), 300u);
  EXPECT_EQ(pacer.waiting(), 2u);
  Pump(t0);
  EXPECT_EQ(sent.size(), 3u) << "nothing was written yet";
  written = {"a", "b"};
  Pump(t0);
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(sent[3].second, "d");
  EXPECT_EQ(sent[4].second, "e");
  EXPECT_EQ(pacer.waiting(), 0u);
}

TEST_F(SchedulePacerTest, ALargeScheduleGoesAloneAndASlowReaderHoldsNoOneUpPastTheHold) {
  sizes["big"] = 10'000;
  pacer.Due("run-1", "big");
  pacer.Due("run-1", "x");
  Pump(t0);
  ASSERT_EQ(sent.size(), 1u) << "larger than the budget: alone";
  Pump(t0 + seconds(1));
  EXPECT_EQ(sent.size(), 1u) << "not written, within the hold";
  Pump(t0 + seconds(3));
  ASSERT_EQ(sent.size(), 2u) << "the hold is over: the next goes";
  EXPECT_EQ(sent[1].second, "x");
}

TEST_F(SchedulePacerTest, DueTwiceWhileWaitingIsSentOnceAndSendingNothingCostsNothing) {
  sizes["gone"] = 0;  // a run that ended: nothing sent
  pacer.Due("run-1", "gone");
  pacer.Due("run-1", "a");
  pacer.Due("run-1", "a");
  pacer.Due("run-2", "a");
  Pump(t0);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1], std::make_pair(std::string("run-1"), std::string("a")));
  EXPECT_EQ(sent[2], std::make_pair(std::string("run-2"), std::string("a")));
  EXPECT_EQ(pacer.bytes_in_flight(), 200u);
  pacer.Due("run-1", "a");  // due again once sent (a reconnect): goes again
  written = {"a"};
  Pump(t0);
  EXPECT_EQ(sent.size(), 4u);
}

}  // namespace
}  // namespace rstmesh
