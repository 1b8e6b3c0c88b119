#include "controller/path_diagnosis.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_join.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

// A scenario that only passed on the path rules out every cause that always changes it.
bool RuledOut(Cause cause, std::span<const ScenarioTally> tallies) {
  for (const ScenarioTally& t : tallies) {
    if (t.deviated > 0 || t.pass == 0) continue;
    const ScenarioDef* def = FindScenario(t.scenario);
    if (def == nullptr) continue;
    for (const CauseEffect& e : EffectsOn(*def)) {
      if (e.cause == cause && e.certainty == Certainty::kAlways) return true;
    }
  }
  return false;
}

bool Explains(Cause cause, v1::Scenario scenario, uint16_t code) {
  const Symptom symptom = Symptom::FromCode(code);
  if (symptom.peer_lost) return cause == Cause::kHostLostState;
  const ScenarioDef* def = FindScenario(scenario);
  if (def == nullptr) return false;
  for (const CauseEffect& e : EffectsOn(*def)) {
    if (e.cause == cause && Matches(e, symptom)) return true;
  }
  return false;
}

bool Affects(Cause cause, const ScenarioDef& def) {
  for (const CauseEffect& e : EffectsOn(def)) {
    if (e.cause == cause) return true;
  }
  return false;
}

}  // namespace

std::vector<PathCause> DiagnosePath(std::span<const ScenarioTally> tallies,
                                    std::span<const Cause> ruled_out) {
  std::vector<std::pair<v1::Scenario, uint16_t>> open;
  for (const ScenarioTally& t : tallies) {
    for (const auto& [code, n] : t.symptoms) {
      if (n > 0) open.emplace_back(t.scenario, code);
    }
  }
  std::vector<PathCause> out;
  while (!open.empty()) {
    // The cause that explains deviations in the most scenarios; among equals the most
    // specific (it affects the fewest scenarios of the catalogue).
    struct Candidate {
      Cause cause;
      size_t scenarios;
      std::vector<std::pair<v1::Scenario, uint16_t>> explains;
    };
    std::vector<Candidate> candidates;
    for (const CauseDef& c : AllCauses()) {
      if (c.cause == Cause::kUnexplained || RuledOut(c.cause, tallies) ||
          std::find(ruled_out.begin(), ruled_out.end(), c.cause) != ruled_out.end()) {
        continue;
      }
      Candidate cand{c.cause, 0, {}};
      std::set<v1::Scenario> scenarios;
      for (const auto& item : open) {
        if (Explains(c.cause, item.first, item.second)) {
          cand.explains.push_back(item);
          scenarios.insert(item.first);
        }
      }
      cand.scenarios = scenarios.size();
      if (cand.scenarios > 0) candidates.push_back(std::move(cand));
    }
    if (candidates.empty()) break;
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) {
                       if (a.scenarios != b.scenarios) return a.scenarios > b.scenarios;
                       return Breadth(a.cause) < Breadth(b.cause);
                     });
    PathCause found{candidates[0].cause, candidates[0].explains, {}};
    for (size_t i = 1; i < candidates.size(); ++i) {
      if (candidates[i].scenarios == candidates[0].scenarios) {
        found.also.push_back(candidates[i].cause);
      }
    }
    std::erase_if(open, [&](const auto& item) {
      return std::find(found.explains.begin(), found.explains.end(), item) != found.explains.end();
    });
    out.push_back(std::move(found));
  }
  // What no cause explains stays visible, one symptom at a time.
  for (const auto& item : open) out.push_back({Cause::kUnexplained, {item}, {}});
  return out;
}

std::string WhatTellsApart(Cause a, Cause b, std::span<const ScenarioTally> tallies) {
  std::vector<std::string> names;
  for (const ScenarioDef* def : AllScenarios()) {
    const bool run = std::any_of(tallies.begin(), tallies.end(), [&](const ScenarioTally& t) {
      return t.scenario == def->id && t.pass + t.deviated > 0;
    });
    if (!run && Affects(a, *def) != Affects(b, *def)) names.emplace_back(def->name);
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace rstmesh
