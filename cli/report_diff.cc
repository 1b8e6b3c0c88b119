#include "cli/report_diff.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/report_format.h"
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

absl::StatusOr<std::string> RenderDiff(const v1::Report& a, const v1::Report& b,
                                       const FindingsDiff& diff, const std::string& format) {
  if (format == "json") {
    google::protobuf::Struct doc;
    auto& fields = *doc.mutable_fields();
    fields["from"].set_string_value(a.status().run_id());
    fields["to"].set_string_value(b.status().run_id());
    auto list = [&](const char* name, const std::vector<FindingItem>& items) {
      google::protobuf::ListValue* values = fields[name].mutable_list_value();
      for (const FindingItem& i : items) {
        auto& item = *values->add_values()->mutable_struct_value()->mutable_fields();
        item["finding"].set_string_value(i.text);
        item["detail"].set_string_value(i.detail);
      }
    };
    list("new", diff.added);
    list("resolved", diff.resolved);
    list("unchanged", diff.unchanged);
    google::protobuf::ListValue* warnings = fields["warnings"].mutable_list_value();
    for (const std::string& w : diff.warnings) warnings->add_values()->set_string_value(w);
    std::string out;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    if (!google::protobuf::util::MessageToJsonString(doc, &out, options).ok()) {
      return absl::InternalError("diff: cannot render JSON");
    }
    return out;
  }
  if (format != "table") {
    return absl::InvalidArgumentError(
        absl::StrCat("-o: '", format, "' is not a diff format (table, json)"));
  }
  std::string out =
      absl::StrCat("findings of ", b.status().run_id(), " against ", a.status().run_id(), ": ",
                   diff.added.size(), " new, ", diff.resolved.size(), " resolved, ",
                   diff.unchanged.size(), " unchanged\n");
  auto section = [&](const char* name, const std::vector<FindingItem>& items) {
    absl::StrAppend(&out, "\n", name, "\n");
    if (items.empty()) absl::StrAppend(&out, "  none\n");
    for (const FindingItem& i : items) {
      absl::StrAppend(&out, "  ", i.text, "\n      (", i.detail, ")\n");
    }
  };
  section("NEW", diff.added);
  section("RESOLVED", diff.resolved);
  section("UNCHANGED", diff.unchanged);
  for (const std::string& w : diff.warnings) absl::StrAppend(&out, "\nnote: ", w, "\n");
  return out;
}

}  // namespace rstmesh
