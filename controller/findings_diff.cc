#include "controller/findings_diff.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

std::string Detail(const v1::Finding& f) {
  std::vector<std::string> scenarios;
  for (int s : f.scenarios()) {
    const ScenarioDef* def = FindScenario(static_cast<v1::Scenario>(s));
    scenarios.push_back(def ? std::string(def->name) : absl::StrCat("scenario#", s));
  }
  return absl::StrCat(absl::StrJoin(scenarios, ", "), "; ", f.deviated(), " of ", f.tasks(),
                      " tasks on ", f.paths(), f.paths() == 1 ? " path" : " paths");
}

std::map<std::string, FindingItem> Items(const v1::Report& r) {
  std::map<std::string, FindingItem> items;
  for (const v1::Finding& f : r.findings()) {
    for (const v1::Place& p : f.places()) {
      // Unexplained findings are told apart by their symptom, the others by their cause.
      const std::string key = absl::StrCat(f.cause(), "|", f.symptom(), "|", p.kind(), "|",
                                           p.label(), "|", p.source(), "|", p.target());
      items[key] = {key, absl::StrCat(f.title(), " at ", p.text()), Detail(f)};
    }
  }
  return items;
}

uint64_t Inconclusive(const v1::Report& r) { return r.status().inconclusive(); }

}  // namespace

FindingsDiff DiffFindings(const v1::Report& a, const v1::Report& b) {
  FindingsDiff diff;
  const auto before = Items(a);
  const auto after = Items(b);
  for (const auto& [key, item] : after) {
    (before.count(key) ? diff.unchanged : diff.added).push_back(item);
  }
  for (const auto& [key, item] : before) {
    if (!after.count(key)) diff.resolved.push_back(item);
  }
  if (a.status().plan_name() != b.status().plan_name()) {
    diff.warnings.push_back(absl::StrCat("the runs are of different plans ('",
                                         a.status().plan_name(), "' and '", b.status().plan_name(),
                                         "'): findings of scenarios one of them did not run "
                                         "show as new or resolved"));
  }
  for (const v1::Report* r : {&a, &b}) {
    if (r->status().state() != "finished") {
      diff.warnings.push_back(absl::StrCat(r->status().run_id(), " is ", r->status().state(),
                                           ", not finished: its findings may be incomplete"));
    }
    if (Inconclusive(*r) > 0) {
      diff.warnings.push_back(absl::StrCat(r->status().run_id(), " has ", Inconclusive(*r),
                                           " tasks that could not be judged"));
    }
  }
  return diff;
}

}  // namespace rstmesh
