#include "cli/report_diff.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"

namespace rstmesh {

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
