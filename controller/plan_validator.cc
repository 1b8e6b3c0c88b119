#include "controller/plan_validator.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controller/audit_schedule.h"
#include "controller/idle_discovery.h"
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

void CheckIdleDiscovery(Problems& p, const v1::Plan& plan) {
  if (!plan.scenarios().empty()) {
    p.Add("scenarios", "an idle_discovery plan runs its own idle_hold probes; leave scenarios out");
  }
  const v1::IdleDiscovery d = ResolveIdleDiscovery(plan.idle_discovery());
  if (d.min_idle_ms() < 100) {
    p.Add("idle_discovery.min_idle_ms",
          absl::StrCat(d.min_idle_ms(),
                       " is under 100: too short to tell an idle timer from "
                       "the path's own delays"));
  }
  if (d.max_idle_ms() > kMaxIdleMs) {
    p.Add("idle_discovery.max_idle_ms",
          absl::StrCat(d.max_idle_ms(), " is over the maximum of ", kMaxIdleMs,
                       " (2.5 h, past RFC 5382's 7440 s)"));
  } else if (d.max_idle_ms() <= d.min_idle_ms()) {
    p.Add(
        "idle_discovery.max_idle_ms",
        absl::StrCat(d.max_idle_ms(), " must be longer than min_idle_ms (", d.min_idle_ms(), ")"));
  }
  if (d.resolution_pct() > 50) {
    p.Add("idle_discovery.resolution_pct", absl::StrCat(d.resolution_pct(), " is over 50"));
  }
  if (d.probes_per_round() < 2 || d.probes_per_round() > 64) {
    p.Add("idle_discovery.probes_per_round",
          absl::StrCat(d.probes_per_round(), " is out of range: 2 to 64"));
  } else if (d.max_connections() < d.probes_per_round() || d.max_connections() > 1024) {
    p.Add("idle_discovery.max_connections",
          absl::StrCat(d.max_connections(), " is out of range: probes_per_round (",
                       d.probes_per_round(), ") to 1024"));
  }
  const uint64_t deadline_s = plan.limits().deadline_s();
  if (deadline_s != 0 && deadline_s * 1000 < uint64_t{d.max_idle_ms()} + 60'000) {
    p.Add("limits.deadline_s",
          absl::StrCat(deadline_s, " s cannot see the ladder's longest probe (max_idle_ms ",
                       d.max_idle_ms(), ") through; leave it 0 for a deadline that fits"));
  }
}

}  // namespace

absl::Status ValidatePlan(const v1::Plan& plan, const std::vector<v1::AgentInfo>& registered) {
  Problems p;
  if (plan.name().size() > 128) p.Add("name", "longer than 128 characters");
  if (plan.has_schedule()) {
    if (plan.name().empty()) p.Add("name", "a scheduled plan needs a name: its audits go by it");
    if (absl::StatusOr<AuditSchedule> schedule = AuditSchedule::Of(plan.schedule());
        !schedule.ok()) {
      for (absl::string_view line : absl::StrSplit(schedule.status().message(), '\n')) {
        const size_t colon = line.find(": ");
        p.Add(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
      }
    }
  }
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

  if (plan.has_idle_discovery()) {
    CheckIdleDiscovery(p, plan);
  } else if (plan.scenarios().empty()) {
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
    if (run.params().probe_round() != 0) {
      p.Add(path + ".params.probe_round", "set by idle discovery only");
    }
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
