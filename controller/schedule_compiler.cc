#include "controller/schedule_compiler.h"

#include <algorithm>
#include <map>

#include "controller/idle_discovery.h"
#include "core/scenario.h"

namespace rstmesh {

TaskLayout TaskLayout::Compile(const v1::Plan& plan, const std::vector<v1::AgentInfo>& registered) {
  TaskLayout layout;
  const std::vector<v1::AgentInfo> selected = SelectAgents(plan.selector(), registered);
  std::map<std::string, uint32_t> index;
  for (const v1::AgentInfo& a : selected) {
    index[a.id()] = static_cast<uint32_t>(layout.agents_.size());
    layout.agents_.push_back(a.id());
  }
  if (plan.pattern().kind() == v1::PATTERN_KIND_FULL_MESH) {
    // The large case, by index: a million pairs of strings would be built only to be dropped.
    const uint32_t n = static_cast<uint32_t>(layout.agents_.size());
    layout.pairs_.reserve(n < 2 ? 0 : size_t{n} * (n - 1));
    for (uint32_t a = 0; a < n; ++a) {
      for (uint32_t b = 0; b < n; ++b) {
        if (a != b) layout.pairs_.emplace_back(a, b);
      }
    }
  } else {
    for (const auto& [source, target] : PatternPairs(plan.pattern(), selected)) {
      layout.pairs_.emplace_back(index.at(source), index.at(target));
    }
  }
  // Every pattern lists a source's pairs together already; kept so, whatever it does.
  std::stable_sort(layout.pairs_.begin(), layout.pairs_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const uint32_t pairs = static_cast<uint32_t>(layout.pairs_.size());
  layout.first_pair_.assign(layout.agents_.size(), pairs);
  layout.pair_end_.assign(layout.agents_.size(), pairs);
  for (uint32_t p = pairs; p-- > 0;) layout.first_pair_[layout.pairs_[p].first] = p;
  for (uint32_t p = 0; p < pairs; ++p) layout.pair_end_[layout.pairs_[p].first] = p + 1;

  uint64_t next = 0;
  auto add = [&](v1::Scenario scenario, v1::ScenarioParams params, uint32_t repetitions) {
    Block block;
    block.scenario = scenario;
    block.params = std::move(params);
    block.repetitions = std::max(1u, repetitions);
    block.first_index = static_cast<uint32_t>(next);
    next += uint64_t{block.repetitions} * pairs;
    layout.repetitions_ += block.repetitions;
    layout.blocks_.push_back(std::move(block));
  };
  if (plan.has_idle_discovery()) {
    // The ladder; the search adds the rest as amendments.
    for (uint32_t idle : IdleLadder(ResolveIdleDiscovery(plan.idle_discovery()))) {
      add(v1::SCENARIO_IDLE_HOLD, IdleProbeParams(idle, 1), 1);
    }
  } else {
    for (const v1::ScenarioRun& run : plan.scenarios()) {
      const ScenarioDef* def = FindScenario(run.name());
      if (def == nullptr) continue;  // ValidatePlan rejects it first
      add(def->id, ResolveParams(*def, run.params()), run.repetitions());
    }
  }
  layout.size_ = next;
  return layout;
}

const TaskLayout::Block& TaskLayout::BlockOf(uint32_t index) const {
  // The last block that starts at or before the index.
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), index - 1,
                             [](uint32_t o, const Block& b) { return o < b.first_index; });
  return *(it - 1);
}

std::pair<uint32_t, uint32_t> TaskLayout::Ends(uint32_t index) const {
  return pairs_[(index - 1 - BlockOf(index).first_index) % pairs_.size()];
}

int TaskLayout::AgentIndex(const std::string& id) const {
  auto it = std::lower_bound(agents_.begin(), agents_.end(), id);
  return it != agents_.end() && *it == id ? static_cast<int>(it - agents_.begin()) : -1;
}

PlannedTask TaskLayout::At(uint32_t index) const {
  const Block& block = BlockOf(index);
  const uint32_t within = index - 1 - block.first_index;
  const uint32_t pairs = static_cast<uint32_t>(pairs_.size());
  const auto& [source, target] = pairs_[within % pairs];
  return {agents_[source], agents_[target], block.scenario, block.params, within / pairs};
}

std::vector<uint32_t> TaskLayout::Initiators() const {
  std::vector<uint32_t> out;
  for (uint32_t a = 0; a < agents_.size(); ++a) {
    if (first_pair_[a] < pair_end_[a]) out.push_back(a);
  }
  return out;
}

std::pair<uint32_t, uint32_t> TaskLayout::PairsOf(uint32_t source) const {
  if (source >= agents_.size() || first_pair_[source] >= pair_end_[source]) return {0, 0};
  return {first_pair_[source], pair_end_[source]};
}

std::vector<v1::Schedule> TaskLayout::Parts(uint32_t source, size_t targets_per_part) const {
  std::vector<v1::Schedule> parts;
  const auto [first, last] = PairsOf(source);
  for (uint32_t chunk = first; chunk < last; chunk += static_cast<uint32_t>(targets_per_part)) {
    v1::Schedule part;
    part.set_part(static_cast<uint32_t>(parts.size()));
    const uint32_t end = std::min<uint32_t>(last, chunk + static_cast<uint32_t>(targets_per_part));
    for (uint32_t p = chunk; p < end; ++p) {
      v1::ScheduleTarget* target = part.add_targets();
      target->set_agent(agents_[pairs_[p].second]);
      target->set_pair(p);
    }
    for (const Block& b : blocks_) {
      v1::ScheduleBlock* block = part.add_blocks();
      block->set_scenario(b.scenario);
      *block->mutable_params() = b.params;
      block->set_repetitions(b.repetitions);
      block->set_first_index(b.first_index);
      block->set_stride(static_cast<uint32_t>(pairs_.size()));
    }
    parts.push_back(std::move(part));
  }
  return parts;
}

uint64_t TaskLayout::WorkSize(uint32_t source) const {
  const auto [first, last] = PairsOf(source);
  return uint64_t{last - first} * repetitions_;
}

uint32_t TaskLayout::WorkAt(uint32_t source, size_t targets_per_part, uint64_t k) const {
  const auto [first, last] = PairsOf(source);
  const uint64_t per_part = uint64_t{targets_per_part} * repetitions_;  // in every full part
  const uint64_t part = k / per_part;
  const uint32_t chunk = first + static_cast<uint32_t>(part * targets_per_part);
  const uint32_t width = std::min<uint32_t>(last - chunk, static_cast<uint32_t>(targets_per_part));
  const uint64_t in_part = k - part * per_part;
  uint32_t round = static_cast<uint32_t>(in_part / width);  // (block, repetition), in order
  const uint32_t p = chunk + static_cast<uint32_t>(in_part % width);
  const uint32_t pairs = static_cast<uint32_t>(pairs_.size());
  for (const Block& b : blocks_) {
    if (round < b.repetitions) return b.first_index + round * pairs + p + 1;
    round -= b.repetitions;
  }
  return 0;  // k out of range
}

void FillTargets(v1::Schedule& part,
                 const std::function<bool(const std::string&, v1::AgentInfo*)>& lookup) {
  v1::AgentInfo info;
  for (v1::ScheduleTarget& target : *part.mutable_targets()) {
    if (!lookup(target.agent(), &info)) continue;
    target.set_endpoint(info.data_endpoint());
    target.set_closed_port(info.closed_port());
    target.set_incarnation(info.incarnation());
  }
}

}  // namespace rstmesh
