// The agent's schedule runner, driven by hand (Step, a manual clock): it starts tests in
// schedule order within the run's limits, resumes after what a predecessor started, ignores
// parts it has, stops on cancel, skips dropped targets and pauses while it may not start.
#include "agent/schedule_runner.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;

class ScheduleRunnerTest : public ::testing::Test {
 protected:
  ScheduleRunnerTest() {
    ScheduleRunner::Options options;
    options.clock = &clock_;
    options.may_start = [this] { return may_start_; };
    runner_ = std::make_unique<ScheduleRunner>(
        options, [this](ScheduledTest test, ScheduleRunner::Done done) {
          started_.push_back(test.task_id & 0xffffffffu);
          endpoints_.push_back(test.target_endpoint);
          done_.push_back(std::move(done));
        });
  }

  // Run 5's part: `targets` targets (pairs 0..), one block of `repetitions` over 10 pairs.
  static v1::Schedule Part(int targets, uint32_t repetitions, uint32_t concurrency,
                           uint32_t spacing_ms, double rate) {
    v1::Schedule part;
    part.set_run_id("run-5");
    part.set_run_number(5);
    part.set_concurrency(concurrency);
    part.set_pair_spacing_ms(spacing_ms);
    part.set_closures_per_second(rate);
    for (int t = 0; t < targets; ++t) {
      v1::ScheduleTarget* target = part.add_targets();
      target->set_agent(absl::StrCat("agent-", t));
      target->set_endpoint(absl::StrCat("127.0.0.", 10 + t, ":7402"));
      target->set_pair(static_cast<uint32_t>(t));
    }
    v1::ScheduleBlock* block = part.add_blocks();
    block->set_scenario(v1::SCENARIO_GRACEFUL_CLOSE);
    block->set_repetitions(repetitions);
    block->set_first_index(100);
    block->set_stride(10);
    return part;
  }

  uint64_t Started() const { return runner_->Progress().runs(0).started(); }
  void FinishAll() {
    for (auto& done : done_) done();
    done_.clear();
  }

  ManualClock clock_;
  bool may_start_ = true;
  std::unique_ptr<ScheduleRunner> runner_;
  std::vector<uint64_t> started_;  // task indices, in start order
  std::vector<std::string> endpoints_;
  std::vector<ScheduleRunner::Done> done_;
};

TEST_F(ScheduleRunnerTest, StartsInOrderWithinTheConcurrency) {
  runner_->Add(Part(3, 2, /*concurrency=*/2, 0, 0));
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{101, 102}));
  EXPECT_EQ(endpoints_[1], "127.0.0.11:7402");
  EXPECT_EQ(runner_->running(), 2);
  runner_->Step();
  EXPECT_EQ(started_.size(), 2u) << "a third test while two are under way";
  done_[0]();
  runner_->Step();
  // Repetition 1 of pair 0 is index 100 + 10 + 0 + 1.
  EXPECT_EQ(started_, (std::vector<uint64_t>{101, 102, 103}));
  FinishAll();
  runner_->Step();
  FinishAll();
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{101, 102, 103, 111, 112, 113}));
  EXPECT_EQ(Started(), 6u);
}

TEST_F(ScheduleRunnerTest, HoldsThePairSpacing) {
  runner_->Add(Part(1, 3, 8, /*spacing_ms=*/100, 0));
  runner_->Step();
  EXPECT_EQ(started_.size(), 1u);
  clock_.Advance(milliseconds(99));
  runner_->Step();
  EXPECT_EQ(started_.size(), 1u) << "the same pair again within 100 ms";
  clock_.Advance(milliseconds(1));
  runner_->Step();
  EXPECT_EQ(started_.size(), 2u);
  // The second test waited, and now the third does: each counted once.
  EXPECT_EQ(runner_->Progress().spacing_delayed(), 2u);
}

TEST_F(ScheduleRunnerTest, HoldsTheClosureRate) {
  runner_->Add(Part(10, 1, 100, 0, /*rate=*/4));
  runner_->Step();
  EXPECT_EQ(started_.size(), 4u) << "a second's worth at once";
  clock_.Advance(milliseconds(240));
  runner_->Step();
  EXPECT_EQ(started_.size(), 4u);
  clock_.Advance(milliseconds(10));
  runner_->Step();
  EXPECT_EQ(started_.size(), 5u);
  EXPECT_GE(runner_->Progress().rate_delayed(), 1u);
}

TEST_F(ScheduleRunnerTest, ResumesAfterAPredecessorAndIgnoresPartsItHas) {
  v1::Schedule part = Part(3, 2, 100, 0, 0);
  part.set_resume_from(4);  // the process before this one started four
  runner_->Add(part);
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{112, 113}));
  part.set_resume_from(0);
  runner_->Add(part);  // resent after a reconnect
  runner_->Step();
  EXPECT_EQ(started_.size(), 2u) << "a resent part ran again";
  EXPECT_EQ(Started(), 6u);
}

TEST_F(ScheduleRunnerTest, AmendmentsRunEachTaskOnce) {
  runner_->Add(Part(2, 1, 100, 0, 0));
  v1::Schedule amendment;
  amendment.set_run_id("run-5");
  amendment.set_run_number(5);
  amendment.set_concurrency(100);
  amendment.add_targets()->set_agent("agent-1");
  v1::ScheduledTask* task = amendment.add_tasks();
  task->set_task_id(uint64_t{5} << 32 | 900);
  task->set_target(0);
  task->set_scenario(v1::SCENARIO_IDLE_HOLD);
  runner_->Add(amendment);
  runner_->Add(amendment);
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{101, 102, 900}));
}

TEST_F(ScheduleRunnerTest, CancelStopsTheRunAndDroppedTargetsAreSkipped) {
  runner_->Add(Part(3, 2, 1, 0, 0));
  runner_->Step();
  v1::CancelRun drop;
  drop.set_run_id("run-5");
  drop.add_targets("agent-1");
  EXPECT_FALSE(runner_->Cancel(drop).has_value()) << "only some targets: the run goes on";
  FinishAll();
  runner_->Step();
  FinishAll();
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{101, 103, 111}));
  v1::CancelRun cancel;
  cancel.set_run_id("run-5");
  // Of 6 items, 3 started; of the other 3, those against the dropped target may still be
  // counted (skipped as they come up).
  const std::optional<uint64_t> skipped = runner_->Cancel(cancel);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_GE(*skipped, 1u);
  EXPECT_LE(*skipped, 3u);
  EXPECT_FALSE(runner_->Cancel(cancel).has_value()) << "cancelled twice";
  FinishAll();
  runner_->Step();
  EXPECT_EQ(started_.size(), 3u) << "a test started after the run was cancelled";
  runner_->Add(Part(3, 2, 1, 0, 0));
  runner_->Step();
  EXPECT_EQ(started_.size(), 3u) << "a cancelled run started again";
}

TEST_F(ScheduleRunnerTest, WaitsForWhereATargetListensAndFollowsItsMoves) {
  v1::Schedule part = Part(2, 1, 100, 0, 0);
  part.mutable_targets(0)->clear_endpoint();  // not registered yet when the schedule went out
  runner_->Add(part);
  runner_->Step();
  EXPECT_TRUE(started_.empty());
  v1::Schedule update;
  update.set_run_number(5);
  v1::ScheduleTarget* moved = update.add_targets();
  moved->set_agent("agent-0");
  moved->set_endpoint("127.0.0.99:4000");
  runner_->Add(update);
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{101, 102}));
  EXPECT_EQ(endpoints_[0], "127.0.0.99:4000");
  // An update for a run it does not have changes nothing.
  update.set_run_number(6);
  runner_->Add(update);
  EXPECT_EQ(runner_->Progress().runs_size(), 1);
}

TEST_F(ScheduleRunnerTest, TestsOfAPausedTargetWaitWhileTheOthersGoOn) {
  v1::Schedule part = Part(2, 2, 100, 0, 0);
  part.mutable_targets(0)->set_paused(true);  // its agent is not heard from
  runner_->Add(part);
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{102, 112}));
  EXPECT_EQ(Started(), 4u) << "the waiting tests hold the schedule up";
  v1::Schedule update;
  update.set_run_number(5);
  v1::ScheduleTarget* back = update.add_targets();
  back->set_agent("agent-0");
  back->set_endpoint("127.0.0.10:7402");
  runner_->Add(update);
  runner_->Step();
  EXPECT_EQ(started_, (std::vector<uint64_t>{102, 112, 101, 111}));
}

TEST_F(ScheduleRunnerTest, PausesWhileItMayNotStart) {
  may_start_ = false;
  runner_->Add(Part(2, 1, 100, 0, 0));
  runner_->Step();
  EXPECT_TRUE(started_.empty());
  may_start_ = true;
  runner_->Step();
  EXPECT_EQ(started_.size(), 2u);
}

TEST_F(ScheduleRunnerTest, ForgottenRunsAreGone) {
  runner_->Add(Part(2, 1, 100, 0, 0));
  runner_->Forget(5);
  EXPECT_EQ(runner_->Progress().runs_size(), 0);
}

}  // namespace
}  // namespace rstmesh
