#include "controller/findings.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/path_diagnosis.h"
#include "controller/task_judge.h"
#include "core/closure.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

constexpr size_t kExamples = 5;
constexpr size_t kPacketEvidence = 2;  // tasks' packet evidence per finding

std::string ReasonText(const std::string& judged_by) {
  static const std::map<std::string, std::string> kTexts = {
      {"agent_lost", "an agent of the task was lost before it ran"},
      {"no_initiator", "no observation from the initiator in time"},
      {"responder_silent",
       "the responder's agent was not heard from after the test (its host hung or the agent "
       "stopped reporting)"},
      {"peer_lost", "the responder's agent went away mid-test and the initiator saw no reset"},
      {"initiator_stalled", "the initiator's agent was frozen around the test (host hung)"},
      {"responder_stalled", "the responder's agent was frozen around the test (host hung)"},
      {"unknown_scenario", "the scenario is not in this controller's catalogue"},
      {"initiator_unsupported", "the initiator lacks a capability the scenario needs"},
      {"responder_unsupported",
       "the responder lacks a capability the scenario needs (silent_drop: CAP_NET_ADMIN)"},
      {"initiator_local_error", "the initiator could not run it (a local error)"},
      {"responder_local_error", "the responder could not run it (a local error)"},
      {"no_responder", "no observation from the responder in time"},
  };
  auto it = kTexts.find(judged_by);
  return it == kTexts.end() ? judged_by : it->second;
}

// The agents a reason is about.
std::vector<const std::string*> NamedBy(const std::string& judged_by, const TaskRecord& task) {
  if (absl::StartsWith(judged_by, "initiator") || judged_by == "no_initiator") {
    return {&task.source};
  }
  if (judged_by == "agent_lost") return {&task.source, &task.target};
  return {&task.target};
}

std::string SymptomWords(v1::Scenario scenario, const Symptom& s) {
  const ScenarioDef* def = FindScenario(scenario);
  const std::string name = def ? std::string(def->name) : absl::StrCat("scenario#", scenario);
  if (s.peer_lost) {
    return absl::StrCat(name,
                        ": the responder's agent went away and the initiator's next "
                        "segment met a RST");
  }
  std::string words = absl::StrCat(name, ": the ", s.responder ? "responder" : "initiator", " saw ",
                                   ClosureName(s.observed));
  if (s.at_connect) {
    absl::StrAppend(&words, " at connect()");
  } else if (s.cut_short) {
    absl::StrAppend(&words, " before all of its peer's bytes arrived");
  } else {
    absl::StrAppend(&words, " after every byte arrived");
  }
  if (s.forged) absl::StrAppend(&words, "; the peer never sent a RST");
  return words;
}

std::string UnexplainedSymptom(v1::Scenario scenario, const Symptom& s) {
  const ScenarioDef* def = FindScenario(scenario);
  v1::ClosureClass expected = v1::CLOSURE_UNSPECIFIED;
  if (def != nullptr) expected = s.responder ? def->responder.closure : def->initiator.closure;
  return absl::StrCat(def ? def->name : "?", ": observed ", ClosureName(s.observed),
                      s.at_connect ? " at connect()" : "", " where Linux predicts ",
                      ClosureName(expected));
}

}  // namespace

FindingsBuilder::FindingsBuilder(const std::vector<v1::AgentInfo>& agents) {
  for (const v1::AgentInfo& a : agents) {
    const uint32_t i = IndexOf(a.id());
    agents_.labels[i] = {a.labels().begin(), a.labels().end()};
  }
}

uint32_t FindingsBuilder::IndexOf(const std::string& id) {
  auto [it, added] = index_.try_emplace(id, static_cast<uint32_t>(agents_.ids.size()));
  if (added) {
    agents_.ids.push_back(id);
    agents_.labels.emplace_back();
  }
  return it->second;
}

void FindingsBuilder::Add(const TaskRecord& task, const v1::TaskResult& result) {
  if (result.verdict() == v1::VERDICT_INCONCLUSIVE) {
    Reason& reason = reasons_[result.judged_by()];
    ++reason.tasks;
    for (const std::string* agent : NamedBy(result.judged_by(), task)) ++reason.agents[*agent];
    if (reason.examples.size() < kExamples) reason.examples.push_back(task.task_id);
    return;
  }
  const size_t slot = static_cast<size_t>(task.scenario);
  if (slot >= kScenarioSlots) return;
  const PathKey path{IndexOf(task.source), IndexOf(task.target)};
  Count& count = paths_[path.raw()][slot];
  const ScenarioDef* def = FindScenario(task.scenario);
  if (def != nullptr && def->id == v1::SCENARIO_IDLE_HOLD) {
    const uint32_t idle = ResolveParams(*def, task.params).idle_ms();
    IdleRange& range = idle_[path.raw()];
    if (result.verdict() == v1::VERDICT_PASS) {
      range.longest_passed = std::max(range.longest_passed, idle);
    } else {
      range.shortest_deviated = std::min(range.shortest_deviated, idle);
    }
  }
  auto bump = [](uint16_t& n) {
    if (n < UINT16_MAX) ++n;
  };
  if (result.verdict() == v1::VERDICT_PASS) {
    bump(count.pass);
    return;
  }
  bump(count.deviated);
  if (def == nullptr) return;
  const uint16_t code = SymptomOf(*def, task.params, result).Code();
  auto& symptoms = symptoms_[{path.raw(), static_cast<int>(slot)}];
  auto keep_evidence = [&](SymptomCount& s) {
    if (!s.evidence.empty() || result.evidence().empty()) return;
    s.evidence_task = task.task_id;
    s.evidence.assign(result.evidence().begin(), result.evidence().end());
  };
  for (SymptomCount& s : symptoms) {
    if (s.code == code) {
      ++s.tasks;
      keep_evidence(s);
      return;
    }
  }
  symptoms.push_back({code, 1, task.task_id, 0, {}});
  keep_evidence(symptoms.back());
}

FindingsBuilder::Findings FindingsBuilder::Build() const {
  Findings out;
  absl::flat_hash_set<uint64_t> tested;
  for (const auto& [raw, tally] : paths_) {
    for (const Count& c : tally) {
      if (c.pass + c.deviated > 0) {
        tested.insert(raw);
        break;
      }
    }
  }
  // The deviating paths, each with the scenarios that deviated on it.
  std::map<uint64_t, std::vector<int>> deviating;
  for (const auto& [key, symptoms] : symptoms_) deviating[key.first].push_back(key.second);

  // One group per cause (per scenario and symptom for what no cause explains).
  struct Group {
    Cause cause;
    std::string symptom;  // unexplained only
    std::vector<PathKey> paths;
    std::map<std::pair<int, uint16_t>, uint32_t> explained;  // (scenario, code) -> tasks
    std::set<int> scenarios;
    uint64_t tasks = 0;
    std::vector<uint64_t> examples;
    std::map<std::string, std::string> also;  // cause id -> what tells it apart
    std::vector<std::string> packets;         // packet evidence of a few tasks
  };
  std::map<std::pair<int, std::string>, Group> groups;
  for (auto& [raw, slots] : deviating) {
    std::sort(slots.begin(), slots.end());
    const PathTally& tally = paths_.at(raw);
    std::vector<ScenarioTally> tallies;
    for (size_t slot = 0; slot < kScenarioSlots; ++slot) {
      if (tally[slot].pass + tally[slot].deviated == 0) continue;
      ScenarioTally t{static_cast<v1::Scenario>(slot), tally[slot].pass, tally[slot].deviated, {}};
      if (auto it = symptoms_.find({raw, static_cast<int>(slot)}); it != symptoms_.end()) {
        for (const SymptomCount& s : it->second) t.symptoms.emplace_back(s.code, s.tasks);
      }
      tallies.push_back(std::move(t));
    }
    std::vector<Cause> ruled_out;
    if (auto idle = idle_.find(raw);
        idle != idle_.end() && idle->second.longest_passed >= idle->second.shortest_deviated) {
      ruled_out = {Cause::kIdleReset, Cause::kIdleDrop};
    }
    for (const PathCause& pc : DiagnosePath(tallies, ruled_out)) {
      std::string symptom;
      if (pc.cause == Cause::kUnexplained) {
        symptom =
            UnexplainedSymptom(pc.explains[0].first, Symptom::FromCode(pc.explains[0].second));
      }
      Group& g = groups[{static_cast<int>(pc.cause), symptom}];
      g.cause = pc.cause;
      g.symptom = symptom;
      g.paths.push_back(PathKey::FromRaw(raw));
      std::set<int> here;
      for (const auto& [scenario, code] : pc.explains) {
        here.insert(scenario);
        g.scenarios.insert(scenario);
        for (const SymptomCount& s : symptoms_.at({raw, static_cast<int>(scenario)})) {
          if (s.code != code) continue;
          g.explained[{scenario, code}] += s.tasks;
          if (g.examples.size() < kExamples) g.examples.push_back(s.first_task);
          if (!s.evidence.empty() && g.packets.size() < kPacketEvidence) {
            for (const std::string& line : s.evidence) {
              g.packets.push_back(absl::StrCat("task ", s.evidence_task, ": ", line));
            }
          }
        }
      }
      for (int scenario : here) g.tasks += tally[scenario].pass + tally[scenario].deviated;
      for (Cause other : pc.also) {
        g.also.try_emplace(std::string(CauseOf(other).id),
                           WhatTellsApart(pc.cause, other, tallies));
      }
    }
  }
  for (auto& [key, g] : groups) {
    const CauseDef& cause = CauseOf(g.cause);
    v1::Finding f;
    f.set_cause(std::string(cause.id));
    f.set_title(g.cause == Cause::kUnexplained ? g.symptom : std::string(cause.title));
    f.set_why(std::string(cause.why));
    f.set_symptom(g.symptom);
    if (g.cause == Cause::kHostLostState) {
      std::map<std::string, uint32_t> hosts;
      for (PathKey p : g.paths) ++hosts[agents_.ids[p.target]];
      for (const auto& [host, n] : hosts) {
        v1::Place* place = f.add_places();
        place->set_kind(v1::PLACE_HOST);
        place->set_source(host);
        place->set_paths(n);
        place->set_text(
            absl::StrCat(host, ": the host lost its connections (crashed or rebooted)"));
      }
    } else {
      for (v1::Place& place : PlacesOf(g.paths, tested, agents_, cause.toward)) {
        *f.add_places() = std::move(place);
      }
    }
    for (int scenario : g.scenarios) f.add_scenarios(static_cast<v1::Scenario>(scenario));
    f.set_paths(static_cast<uint32_t>(g.paths.size()));
    f.set_tasks(static_cast<uint32_t>(g.tasks));
    uint64_t deviated = 0;
    for (const auto& [item, n] : g.explained) {
      deviated += n;
      f.add_evidence(absl::StrCat(
          SymptomWords(static_cast<v1::Scenario>(item.first), Symptom::FromCode(item.second)), " (",
          n, n == 1 ? " task)" : " tasks)"));
    }
    f.set_deviated(static_cast<uint32_t>(deviated));
    for (const std::string& line : g.packets) f.add_evidence(line);
    for (uint64_t id : g.examples) f.add_example_tasks(id);
    for (const auto& [id, apart] : g.also) {
      f.add_also_consistent_with(
          apart.empty() ? id : absl::StrCat(id, " (run ", apart, " to tell them apart)"));
    }
    out.findings.push_back(std::move(f));
  }
  std::stable_sort(
      out.findings.begin(), out.findings.end(),
      [](const v1::Finding& a, const v1::Finding& b) { return a.deviated() > b.deviated(); });
  for (const auto& [judged_by, reason] : reasons_) {
    v1::InconclusiveReason r;
    r.set_judged_by(judged_by);
    r.set_text(ReasonText(judged_by));
    r.set_tasks(static_cast<uint32_t>(reason.tasks));
    std::vector<std::pair<uint64_t, std::string>> agents;
    for (const auto& [agent, n] : reason.agents) agents.emplace_back(n, agent);
    std::stable_sort(agents.begin(), agents.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < agents.size() && i < 10; ++i) {
      r.add_agents(absl::StrCat(agents[i].second, " (", agents[i].first, ")"));
    }
    for (uint64_t id : reason.examples) r.add_example_tasks(id);
    out.inconclusive.push_back(std::move(r));
  }
  std::stable_sort(out.inconclusive.begin(), out.inconclusive.end(),
                   [](const auto& a, const auto& b) { return a.tasks() > b.tasks(); });
  return out;
}

}  // namespace rstmesh
