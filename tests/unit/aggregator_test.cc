#include "controller/aggregator.h"

#include <gtest/gtest.h>

namespace rstmesh {
namespace {

v1::TaskResult Result(const std::string& source, const std::string& target, v1::Verdict verdict,
                      v1::ClosureClass seen, int64_t time_us, const std::string& diagnosis = "") {
  v1::TaskResult r;
  r.set_source(source);
  r.set_target(target);
  r.set_scenario(v1::SCENARIO_ABORTIVE_CLOSE);
  r.set_verdict(verdict);
  r.set_diagnosis(diagnosis);
  r.mutable_initiator()->set_observed(seen);
  r.mutable_initiator()->set_time_to_observe_us(time_us);
  return r;
}

TEST(AggregatorTest, PercentileIsNearestRank) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({5}, 99), 5);
  std::vector<int64_t> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_EQ(Percentile(hundred, 50), 50);
  EXPECT_EQ(Percentile(hundred, 99), 99);
  EXPECT_EQ(Percentile({1, 2, 3, 4}, 50), 2);
}

// Cells of big runs keep times in buckets, not one by one: percentiles stay within 1.6 % of
// the exact nearest rank, and exact while a cell is small.
TEST(AggregatorTest, TimeQuantilesStayCloseToTheExactRankInBoundedMemory) {
  TimeQuantiles small;
  for (int64_t v : {40, 10, 30, 20}) small.Add(v);
  EXPECT_EQ(small.Percentile(50), 20);
  EXPECT_EQ(small.Percentile(99), 40);

  TimeQuantiles big;
  std::vector<int64_t> values;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 200'000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const int64_t us = 200 + static_cast<int64_t>(x % 5'000'000);  // 0.2 ms .. 5 s
    values.push_back(us);
    big.Add(us);
  }
  for (double p : {1.0, 50.0, 90.0, 99.0, 100.0}) {
    const double exact = static_cast<double>(Percentile(values, p));
    const double approx = static_cast<double>(big.Percentile(p));
    EXPECT_LE(approx, exact) << p;  // a bucket's lower bound
    EXPECT_GE(approx, exact * (1 - 1.0 / 64)) << p;
  }
}

TEST(AggregatorTest, CellsCountVerdictsClassesAndTimes) {
  std::vector<v1::TaskResult> results = {
      Result("a", "b", v1::VERDICT_PASS, v1::CLOSURE_RST, 100),
      Result("a", "b", v1::VERDICT_PASS, v1::CLOSURE_RST, 300),
      Result("a", "b", v1::VERDICT_DEVIATION, v1::CLOSURE_FIN, 200, "proxy"),
      Result("b", "a", v1::VERDICT_PASS, v1::CLOSURE_RST, 50),
      Result("b", "c", v1::VERDICT_INCONCLUSIVE, v1::CLOSURE_UNSUPPORTED, 0),
  };
  CellAggregator aggregator;
  for (const v1::TaskResult& r : results) aggregator.Add(r.source(), r.target(), r);
  auto cells = aggregator.Cells();
  ASSERT_EQ(cells.size(), 3u);
  const v1::Cell& ab = cells[0];
  EXPECT_EQ(ab.source(), "a");
  EXPECT_EQ(ab.target(), "b");
  EXPECT_EQ(ab.tasks(), 3u);
  EXPECT_EQ(ab.pass(), 2u);
  EXPECT_EQ(ab.deviation(), 1u);
  EXPECT_EQ(ab.observed().at("RST"), 2u);
  EXPECT_EQ(ab.observed().at("FIN"), 1u);
  EXPECT_EQ(ab.time_to_observe_p50_us(), 200);
  EXPECT_EQ(ab.time_to_observe_p99_us(), 300);
  EXPECT_EQ(ab.verdict(), v1::VERDICT_DEVIATION);
  EXPECT_EQ(ab.diagnosis(), "proxy");
  EXPECT_EQ(cells[1].verdict(), v1::VERDICT_PASS);
  EXPECT_EQ(cells[2].verdict(), v1::VERDICT_INCONCLUSIVE);
}

TEST(AggregatorTest, RollsUpByLabel) {
  std::vector<v1::TaskResult> results = {
      Result("a1", "b1", v1::VERDICT_PASS, v1::CLOSURE_RST, 10),
      Result("a2", "b1", v1::VERDICT_PASS, v1::CLOSURE_RST, 20),
      Result("a1", "a2", v1::VERDICT_PASS, v1::CLOSURE_RST, 30),
  };
  std::map<std::string, std::string> zone = {{"a1", "a"}, {"a2", "a"}, {"b1", "b"}};
  CellAggregator aggregator;  // as a report rolls cells up by zone
  for (const v1::TaskResult& r : results) aggregator.Add(zone[r.source()], zone[r.target()], r);
  auto cells = aggregator.Cells();
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[0].source(), "a");
  EXPECT_EQ(cells[0].target(), "a");
  EXPECT_EQ(cells[0].tasks(), 1u);
  EXPECT_EQ(cells[1].target(), "b");
  EXPECT_EQ(cells[1].tasks(), 2u);
  uint32_t total = 0;
  for (const auto& c : cells) total += c.tasks();
  EXPECT_EQ(total, results.size());
}

}  // namespace
}  // namespace rstmesh
