#include "controller/plan_expander.h"

#include <algorithm>
#include <map>
#include <random>

#include "controller/idle_discovery.h"

namespace rstmesh {

std::string ZoneLabel(const v1::Pattern& pattern) {
  return pattern.zone_label().empty() ? "zone" : pattern.zone_label();
}

std::vector<v1::AgentInfo> SelectAgents(const v1::Selector& selector,
                                        const std::vector<v1::AgentInfo>& registered) {
  std::vector<v1::AgentInfo> out;
  for (const v1::AgentInfo& agent : registered) {
    if (!selector.agents().empty() && std::find(selector.agents().begin(), selector.agents().end(),
                                                agent.id()) == selector.agents().end()) {
      continue;
    }
    bool match = true;
    for (const auto& [key, value] : selector.match_labels()) {
      auto it = agent.labels().find(key);
      if (it == agent.labels().end() || it->second != value) {
        match = false;
        break;
      }
    }
    if (match) out.push_back(agent);
  }
  std::sort(out.begin(), out.end(),
            [](const v1::AgentInfo& a, const v1::AgentInfo& b) { return a.id() < b.id(); });
  return out;
}

namespace {

std::vector<std::pair<std::string, std::string>> FullMesh(const std::vector<std::string>& ids) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& a : ids) {
    for (const std::string& b : ids) {
      if (a != b) pairs.emplace_back(a, b);
    }
  }
  return pairs;
}

// A Fisher-Yates pick written out, so that the same seed gives the same peers on every
// standard library.
std::vector<size_t> PickDistinct(size_t n, size_t k, uint64_t seed) {
  std::vector<size_t> index(n);
  for (size_t i = 0; i < n; ++i) index[i] = i;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < k && i < n; ++i) {
    size_t j = i + static_cast<size_t>(rng() % (n - i));
    std::swap(index[i], index[j]);
  }
  index.resize(std::min(k, n));
  return index;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> PatternPairs(
    const v1::Pattern& pattern, const std::vector<v1::AgentInfo>& agents) {
  std::vector<std::string> ids;
  for (const v1::AgentInfo& agent : agents) ids.push_back(agent.id());
  std::vector<std::pair<std::string, std::string>> pairs;
  switch (pattern.kind()) {
    case v1::PATTERN_KIND_FULL_MESH:
      return FullMesh(ids);
    case v1::PATTERN_KIND_RING:
      if (ids.size() < 2) return pairs;
      for (size_t i = 0; i < ids.size(); ++i) {
        pairs.emplace_back(ids[i], ids[(i + 1) % ids.size()]);
      }
      return pairs;
    case v1::PATTERN_KIND_RANDOM_K:
      for (size_t i = 0; i < ids.size(); ++i) {
        std::vector<std::string> others;
        for (size_t j = 0; j < ids.size(); ++j) {
          if (j != i) others.push_back(ids[j]);
        }
        for (size_t pick : PickDistinct(others.size(), pattern.k(), pattern.seed() + i)) {
          pairs.emplace_back(ids[i], others[pick]);
        }
      }
      return pairs;
    case v1::PATTERN_KIND_ZONE_REPRESENTATIVES: {
      std::map<std::string, std::vector<std::string>> zones;
      const std::string label = ZoneLabel(pattern);
      for (const v1::AgentInfo& agent : agents) {
        auto it = agent.labels().find(label);
        if (it != agent.labels().end()) zones[it->second].push_back(agent.id());
      }
      std::vector<std::string> representatives;
      for (const auto& [zone, members] : zones) {
        representatives.push_back(members[PickDistinct(members.size(), 1, pattern.seed())[0]]);
      }
      return FullMesh(representatives);
    }
    default:
      return pairs;
  }
}

v1::ScenarioParams IdleProbeParams(uint32_t idle_ms, uint32_t round) {
  v1::ScenarioParams params = ResolveParams(*FindScenario(v1::SCENARIO_IDLE_HOLD), {});
  params.set_idle_ms(idle_ms);
  params.set_probe_round(round);
  return params;
}

uint64_t CountTasks(const v1::Plan& plan, const std::vector<v1::AgentInfo>& registered) {
  uint64_t per_pair = 0;
  for (const v1::ScenarioRun& run : plan.scenarios()) per_pair += std::max(1u, run.repetitions());
  if (plan.has_idle_discovery()) {
    per_pair = ResolveIdleDiscovery(plan.idle_discovery()).max_connections();
  }
  const std::vector<v1::AgentInfo> agents = SelectAgents(plan.selector(), registered);
  const uint64_t n = agents.size();
  uint64_t pairs = 0;
  // Counted, not built: a large fleet's full mesh must be refused without allocating it.
  switch (plan.pattern().kind()) {
    case v1::PATTERN_KIND_FULL_MESH:
      pairs = n < 2 ? 0 : n * (n - 1);
      break;
    case v1::PATTERN_KIND_RING:
      pairs = n < 2 ? 0 : n;
      break;
    case v1::PATTERN_KIND_RANDOM_K:
      pairs = n < 2 ? 0 : n * std::min<uint64_t>(plan.pattern().k(), n - 1);
      break;
    default:
      pairs = PatternPairs(plan.pattern(), agents).size();
  }
  return pairs * per_pair;
}

std::vector<PlannedTask> ExpandPlan(const v1::Plan& plan,
                                    const std::vector<v1::AgentInfo>& registered) {
  std::vector<PlannedTask> tasks;
  auto pairs = PatternPairs(plan.pattern(), SelectAgents(plan.selector(), registered));
  if (plan.has_idle_discovery()) {
    // The ladder; the search adds the rest as the answers come in.
    for (uint32_t idle : IdleLadder(ResolveIdleDiscovery(plan.idle_discovery()))) {
      for (const auto& [source, target] : pairs) {
        tasks.push_back({source, target, v1::SCENARIO_IDLE_HOLD, IdleProbeParams(idle, 1), 0});
      }
    }
    return tasks;
  }
  for (const v1::ScenarioRun& run : plan.scenarios()) {
    const ScenarioDef* def = FindScenario(run.name());
    if (def == nullptr) continue;  // ValidatePlan rejects it first
    v1::ScenarioParams params = ResolveParams(*def, run.params());
    for (uint32_t rep = 0; rep < std::max(1u, run.repetitions()); ++rep) {
      for (const auto& [source, target] : pairs) {
        tasks.push_back({source, target, def->id, params, rep});
      }
    }
  }
  return tasks;
}

}  // namespace rstmesh
