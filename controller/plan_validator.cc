#include "controller/plan_validator.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/plan_expander.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

class Problems {
 public:
  void Add(absl::string_view path, absl::string_view reason) {
    lines_.push_back(absl::StrCat(path, ": ", reason));
  }
  bool empty() const { return lines_.empty(); }
  std::string Text() const { return absl::StrJoin(lines_, "\n"); }

 private:
  std::vector<std::string> lines_;
};

std::string KnownScenarios() {
  std::vector<std::string> names;
  for (const ScenarioDef* def : AllScenarios()) names.emplace_back(def->name);
  return absl::StrJoin(names, ", ");
}

void CheckRange(Problems& p, absl::string_view path, uint64_t value, uint64_t max) {
  if (value > max) p.Add(path, absl::StrCat(value, " is over the maximum of ", max));
}

}  // namespace

absl::Status ValidatePlan(const v1::Plan& plan, const std::vector<v1::AgentInfo>& registered) {
  Problems p;
  if (plan.name().size() > 128) p.Add("name", "longer than 128 characters");
  for (const auto& [key, value] : plan.selector().match_labels()) {
    if (key.empty()) p.Add("selector.match_labels", "a label name is empty");
  }
  for (int i = 0; i < plan.selector().agents_size(); ++i) {
    const std::string& id = plan.selector().agents(i);
    bool known = std::any_of(registered.begin(), registered.end(),
                             [&](const v1::AgentInfo& a) { return a.id() == id; });
    if (!known) {
      p.Add(absl::StrCat("selector.agents[", i, "]"),
            absl::StrCat("'", id, "' is not a registered agent"));
    }
  }

  const v1::Pattern& pattern = plan.pattern();
  if (pattern.kind() == v1::PATTERN_KIND_UNSPECIFIED) {
    p.Add("pattern.kind", "required: full_mesh, ring, random_k or zone_representatives");
  }
  if (pattern.kind() == v1::PATTERN_KIND_RANDOM_K) {
    if (pattern.k() == 0) p.Add("pattern.k", "random_k needs k of at least 1");
  } else if (pattern.k() != 0) {
    p.Add("pattern.k", "only random_k takes k");
  }
  if (!pattern.zone_label().empty() && pattern.kind() != v1::PATTERN_KIND_ZONE_REPRESENTATIVES) {
    p.Add("pattern.zone_label", "only zone_representatives takes zone_label");
  }

  if (plan.scenarios().empty()) {
    p.Add("scenarios", absl::StrCat("name at least one scenario (", KnownScenarios(), ")"));
  }
  for (int i = 0; i < plan.scenarios_size(); ++i) {
    const v1::ScenarioRun& run = plan.scenarios(i);
    std::string path = absl::StrCat("scenarios[", i, "]");
    const ScenarioDef* def = FindScenario(run.name());
    if (run.name().empty()) {
      p.Add(path + ".name", absl::StrCat("required (", KnownScenarios(), ")"));
      continue;
    }
    if (def == nullptr) {
      p.Add(path + ".name",
            absl::StrCat("unknown scenario '", run.name(), "' (known: ", KnownScenarios(), ")"));
      continue;
    }
    CheckRange(p, path + ".repetitions", run.repetitions(), 10000);
    if (absl::Status valid = ValidateParams(*def, ResolveParams(*def, run.params())); !valid.ok()) {
      p.Add(path, valid.message());
    }
  }

  const v1::Limits& limits = plan.limits();
  CheckRange(p, "limits.concurrency_per_agent", limits.concurrency_per_agent(), 1024);
  CheckRange(p, "limits.pair_spacing_ms", limits.pair_spacing_ms(), 3'600'000);
  CheckRange(p, "limits.deadline_s", limits.deadline_s(), 7 * 24 * 3600);
  CheckRange(p, "limits.task_timeout_ms", limits.task_timeout_ms(), 3 * 3600 * 1000);
  if (!p.empty()) return absl::InvalidArgumentError(p.Text());

  // Against the fleet as registered now.
  std::vector<v1::AgentInfo> selected = SelectAgents(plan.selector(), registered);
  if (selected.size() < 2) {
    return absl::FailedPreconditionError(
        absl::StrCat("selector: matches ", selected.size(), " of ", registered.size(),
                     " registered agents; a plan needs at least 2"));
  }
  if (pattern.kind() == v1::PATTERN_KIND_RANDOM_K && pattern.k() > selected.size() - 1) {
    p.Add("pattern.k", absl::StrCat(pattern.k(), " peers per agent, but only ", selected.size() - 1,
                                    " other agents are selected"));
  }
  if (pattern.kind() == v1::PATTERN_KIND_ZONE_REPRESENTATIVES) {
    const std::string label = ZoneLabel(pattern);
    for (const v1::AgentInfo& agent : selected) {
      if (!agent.labels().contains(label)) {
        p.Add("pattern.zone_label",
              absl::StrCat("agent '", agent.id(), "' has no '", label, "' label"));
        break;
      }
    }
    if (p.empty() && PatternPairs(pattern, selected).empty()) {
      p.Add("pattern", "the selected agents are all in one zone: no zone pair to test");
    }
  }
  if (p.empty()) {
    if (uint64_t tasks = CountTasks(plan, registered); tasks > kMaxTasksPerRun) {
      p.Add("plan", absl::StrCat("expands to ", tasks, " tasks, over the limit of ",
                                 kMaxTasksPerRun, " per run"));
    }
  }
  if (!p.empty()) return absl::InvalidArgumentError(p.Text());
  return absl::OkStatus();
}

}  // namespace rstmesh
