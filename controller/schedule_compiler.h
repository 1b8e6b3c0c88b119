// Schedule compilation: a run's plan becomes a task layout, from which every party derives
// each task from its index alone, and one schedule per initiating agent, which the agent runs
// on its own (agent/schedule_runner.h).
//
// The layout: the pattern's ordered pairs, grouped by initiator, times blocks (a scenario run
// of the plan with its parameters, or one rung of idle discovery's ladder) times repetitions.
// Task index (1-based) = block.first_index + repetition * pairs + pair + 1, so a schedule
// names its targets (with their pair numbers) and blocks, never its tasks one by one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "controller/plan_expander.h"
#include "rstmesh/v1/agent_hub.pb.h"
#include "rstmesh/v1/plan.pb.h"

namespace rstmesh {

class TaskLayout {
 public:
  struct Block {
    v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
    v1::ScenarioParams params;  // resolved
    uint32_t repetitions = 1;
    uint32_t first_index = 0;  // 0-based: the block's first task has index first_index + 1
  };

  // The layout of a valid plan (ValidatePlan) over the registered agents.
  static TaskLayout Compile(const v1::Plan& plan, const std::vector<v1::AgentInfo>& registered);

  uint64_t size() const { return size_; }
  const std::vector<std::string>& agents() const { return agents_; }  // sorted ids
  size_t pair_count() const { return pairs_.size(); }
  const std::vector<Block>& blocks() const { return blocks_; }

  // The task with this 1-based index (1..size()).
  PlannedTask At(uint32_t index) const;
  // Its initiator and responder (indices into agents()) and its block, without building it.
  std::pair<uint32_t, uint32_t> Ends(uint32_t index) const;
  const Block& BlockOf(uint32_t index) const;
  // An agent's index in agents(), or -1.
  int AgentIndex(const std::string& id) const;
  // The agents (indices into agents()) that initiate at least one task.
  std::vector<uint32_t> Initiators() const;

  // The parts of `source`'s schedule: chunks of at most `targets_per_part` targets, each with
  // every block. Run id, key, limits and endpoints are the caller's (see FillTargets).
  std::vector<v1::Schedule> Parts(uint32_t source, size_t targets_per_part) const;
  // How many work items those parts have, and the task index of the k-th (k < WorkSize) in
  // the order the agent runs them (its progress counts them).
  uint64_t WorkSize(uint32_t source) const;
  uint32_t WorkAt(uint32_t source, size_t targets_per_part, uint64_t k) const;

 private:
  // [first, last) of `source`'s pairs (pairs_ is grouped by source).
  std::pair<uint32_t, uint32_t> PairsOf(uint32_t source) const;

  std::vector<std::string> agents_;
  std::vector<std::pair<uint32_t, uint32_t>> pairs_;  // (source, target) into agents_
  std::vector<uint32_t> first_pair_;                  // per agent; pairs_.size() if none
  std::vector<uint32_t> pair_end_;
  std::vector<Block> blocks_;
  uint32_t repetitions_ = 0;  // over every block
  uint64_t size_ = 0;
};

// Fills each target's endpoint and closed port from `lookup` (agent id -> its registration),
// which returns false for an agent it does not know (the target keeps an empty endpoint; the
// agent reports such a task as a local error).
void FillTargets(v1::Schedule& part,
                 const std::function<bool(const std::string&, v1::AgentInfo*)>& lookup);

// How many targets one schedule message carries at most: a full mesh of 1,000 agents fits
// in one part (about 40 KB); larger ones come in chunks well under gRPC's message limit.
inline constexpr size_t kTargetsPerPart = 2048;

}  // namespace rstmesh
