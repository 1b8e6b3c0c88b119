// The text and CSV reports: findings with place, counts and evidence; what could not be
// judged never reads as "none"; the audit's exit code tells the three apart.
#include "cli/report_format.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace rstmesh {
namespace {

v1::Report Finished(uint64_t pass, uint64_t deviation, uint64_t inconclusive) {
  v1::Report r;
  v1::RunStatus* s = r.mutable_status();
  s->set_run_id("run-4");
  s->set_state("finished");
  s->set_total(pass + deviation + inconclusive);
  s->set_done(s->total());
  s->set_pass(pass);
  s->set_deviation(deviation);
  s->set_inconclusive(inconclusive);
  return r;
}

TEST(ReportFormatTest, InconclusiveTasksAreNeverNoneAndHaveTheirOwnExitCode) {
  v1::Report clean = Finished(12, 0, 0);
  EXPECT_EQ(AuditExitCode(clean.status()), 0);
  EXPECT_TRUE(absl::StrContains(*RenderReport(clean, "table"),
                                "none: every path ended connections as Linux predicts"));

  v1::Report unjudged = Finished(0, 0, 12);
  v1::InconclusiveReason* why = unjudged.add_inconclusive();
  why->set_judged_by("initiator_local_error");
  why->set_text("the initiator could not run it (a local error)");
  why->set_tasks(12);
  why->add_agents("z1-h1 (12)");
  EXPECT_EQ(AuditExitCode(unjudged.status()), 4);
  const std::string text = *RenderReport(unjudged, "table");
  EXPECT_FALSE(absl::StrContains(text, "none: every path")) << text;
  EXPECT_TRUE(absl::StrContains(text,
                                "none among the judged tasks, but 12 tasks could not be "
                                "judged"))
      << text;
  EXPECT_TRUE(absl::StrContains(text,
                                "INCONCLUSIVE (12 tasks not judged)\n  12 tasks: the "
                                "initiator could not run it (a local error)\n      agents: "
                                "z1-h1 (12)"))
      << text;

  v1::Report deviating = Finished(10, 2, 1);
  EXPECT_EQ(AuditExitCode(deviating.status()), 1);
  v1::Report cancelled = Finished(1, 0, 0);
  cancelled.mutable_status()->set_state("cancelled");
  EXPECT_EQ(AuditExitCode(cancelled.status()), 3);
}

TEST(ReportFormatTest, FindingsCarryPlaceCountsAndEvidenceInTextAndCsv) {
  v1::Report r = Finished(30, 18, 0);
  v1::Finding* f = r.add_findings();
  f->set_cause("resets_dropped");
  f->set_title("resets are dropped by a firewall or load balancer");
  f->add_scenarios(v1::SCENARIO_ABORTIVE_CLOSE);
  f->add_scenarios(v1::SCENARIO_REFUSED);
  f->set_paths(9);
  f->set_tasks(18);
  f->set_deviated(18);
  v1::Place* p = f->add_places();
  p->set_kind(v1::PLACE_LABEL_PAIR);
  p->set_text("zone z1 -> z2");
  p->set_paths(9);
  f->add_evidence("refused: the initiator saw TIMEOUT at connect() (9 tasks)");
  f->add_example_tasks(17);
  const std::string text = *RenderReport(r, "table");
  EXPECT_TRUE(absl::StrContains(
      text,
      "  resets are dropped by a firewall or load balancer\n      where: zone z1 -> z2 (9 paths)\n"
      "      explains: abortive_close, refused; 18 of 18 tasks on 9 paths\n"
      "      evidence: refused: the initiator saw TIMEOUT at connect() (9 tasks)\n"
      "      tasks: 17\n"))
      << text;
  const std::string csv = *RenderReport(r, "findings-csv");
  EXPECT_EQ(csv,
            "cause,title,places,scenarios,paths,deviated,tasks,evidence,also_consistent_with,"
            "example_tasks\n"
            "resets_dropped,resets are dropped by a firewall or load balancer,zone z1 -> z2 (9 "
            "paths),\"abortive_close, refused\",9,18,18,refused: the initiator saw TIMEOUT at "
            "connect() (9 tasks),,17\n");
}

}  // namespace
}  // namespace rstmesh
