// Two audits compared: a finding per cause and place is new, resolved or unchanged.
#include "cli/report_diff.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace rstmesh {
namespace {

v1::Report Audit(const std::string& run_id, const std::string& plan) {
  v1::Report r;
  r.mutable_status()->set_run_id(run_id);
  r.mutable_status()->set_plan_name(plan);
  r.mutable_status()->set_state("finished");
  return r;
}

void AddFinding(v1::Report& r, const std::string& cause, const std::string& title,
                std::vector<std::pair<v1::PlaceKind, std::string>> places) {
  v1::Finding* f = r.add_findings();
  f->set_cause(cause);
  f->set_title(title);
  f->add_scenarios(v1::SCENARIO_ABORTIVE_CLOSE);
  f->set_paths(9);
  f->set_tasks(9);
  f->set_deviated(9);
  for (const auto& [kind, text] : places) {
    v1::Place* p = f->add_places();
    p->set_kind(kind);
    p->set_source(text);
    p->set_text(text);
  }
}

TEST(ReportDiffTest, FindingsAreComparedByCauseAndPlace) {
  v1::Report before = Audit("run-1", "nightly");
  AddFinding(before, "resets_dropped", "resets are dropped", {{v1::PLACE_HOST_OUTBOUND, "h1"}});
  AddFinding(before, "closed_port_dropped", "closed ports are dropped",
             {{v1::PLACE_LABEL_PAIR, "z1"}});
  v1::Report after = Audit("run-2", "nightly");
  // The same cause at a second host; the closed ports fixed; a new cause.
  AddFinding(after, "resets_dropped", "resets are dropped",
             {{v1::PLACE_HOST_OUTBOUND, "h1"}, {v1::PLACE_HOST_OUTBOUND, "h7"}});
  AddFinding(after, "unreachable", "the path is unreachable", {{v1::PLACE_LABEL_PAIR, "z3"}});

  FindingsDiff diff = DiffFindings(before, after);
  ASSERT_EQ(diff.added.size(), 2u);
  EXPECT_EQ(diff.added[0].text, "resets are dropped at h7");
  EXPECT_EQ(diff.added[1].text, "the path is unreachable at z3");
  ASSERT_EQ(diff.resolved.size(), 1u);
  EXPECT_EQ(diff.resolved[0].text, "closed ports are dropped at z1");
  ASSERT_EQ(diff.unchanged.size(), 1u);
  EXPECT_EQ(diff.unchanged[0].text, "resets are dropped at h1");
  EXPECT_TRUE(diff.warnings.empty());

  const std::string table = *RenderDiff(before, after, diff, "table");
  EXPECT_TRUE(absl::StartsWith(
      table,
      "findings of run-2 against run-1: 2 new, 1 resolved, 1 unchanged\n\nNEW\n"
      "  resets are dropped at h7\n      (abortive_close; 9 of 9 tasks on 9 paths)\n"))
      << table;
  const std::string json = *RenderDiff(before, after, diff, "json");
  EXPECT_TRUE(absl::StrContains(json, "\"finding\": \"closed ports are dropped at z1\"")) << json;
  EXPECT_FALSE(RenderDiff(before, after, diff, "csv").ok());

  // Nothing changed: nothing new.
  EXPECT_TRUE(DiffFindings(after, after).added.empty());
}

TEST(ReportDiffTest, RunsThatAreNotComparableAreSaidSo) {
  v1::Report a = Audit("run-1", "nightly");
  v1::Report b = Audit("run-2", "weekly");
  b.mutable_status()->set_state("cancelled");
  b.mutable_status()->set_inconclusive(3);
  FindingsDiff diff = DiffFindings(a, b);
  ASSERT_EQ(diff.warnings.size(), 3u);
  EXPECT_TRUE(absl::StrContains(diff.warnings[0], "different plans ('nightly' and 'weekly')"));
  EXPECT_TRUE(absl::StrContains(diff.warnings[1], "run-2 is cancelled, not finished"));
  EXPECT_TRUE(absl::StrContains(diff.warnings[2], "run-2 has 3 tasks that could not be judged"));
}

}  // namespace
}  // namespace rstmesh
