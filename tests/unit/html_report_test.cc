// The HTML report: self-contained, findings first, a matrix cell per agent pair coloured by
// verdict with its details, readable at 50+ agents. Checked by parsing the page.
#include "cli/html_report.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {

v1::Cell MakeCell(const std::string& src, const std::string& dst, v1::Scenario scenario,
                  v1::Verdict verdict, const std::string& diagnosis = "") {
  v1::Cell c;
  c.set_source(src);
  c.set_target(dst);
  c.set_scenario(scenario);
  c.set_tasks(2);
  c.set_pass(verdict == v1::VERDICT_PASS ? 2 : 0);
  c.set_deviation(verdict == v1::VERDICT_DEVIATION ? 2 : 0);
  c.set_inconclusive(verdict == v1::VERDICT_INCONCLUSIVE ? 2 : 0);
  (*c.mutable_observed())[verdict == v1::VERDICT_DEVIATION ? "TIMEOUT" : "RST"] = 2;
  c.set_time_to_observe_p50_us(1500);
  c.set_time_to_observe_p99_us(2500);
  c.set_verdict(verdict);
  c.set_diagnosis(diagnosis);
  return c;
}

// 60 agents in 3 zones; agent-0 -> agent-1 deviates (and so zone a -> a), agent-2 -> agent-3
// is inconclusive, everything else passes.
v1::Report BigReport() {
  v1::Report r;
  r.mutable_status()->set_run_id("run-9");
  r.mutable_status()->set_plan_name("audit <prod> & co");
  r.mutable_status()->set_state("finished");
  const int n = 60;
  auto zone = [](int i) { return std::string(1, static_cast<char>('a' + i % 3)); };
  std::map<std::pair<std::string, std::string>, v1::Verdict> zone_verdict;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      v1::Verdict v = v1::VERDICT_PASS;
      std::string diagnosis;
      if (i == 0 && j == 3) {
        v = v1::VERDICT_DEVIATION;
        diagnosis = "resets are dropped by a firewall or load balancer";
      }
      if (i == 1 && j == 4) v = v1::VERDICT_INCONCLUSIVE;
      *r.add_cells() = MakeCell(absl::StrCat("agent-", i), absl::StrCat("agent-", j),
                                v1::SCENARIO_ABORTIVE_CLOSE, v, diagnosis);
    }
  }
  for (char a : {'a', 'b', 'c'}) {
    for (char b : {'a', 'b', 'c'}) {
      bool bad = a == 'a' && b == 'a';
      *r.add_zone_cells() =
          MakeCell(std::string(1, a), std::string(1, b), v1::SCENARIO_ABORTIVE_CLOSE,
                   bad ? v1::VERDICT_DEVIATION : v1::VERDICT_PASS,
                   bad ? "resets are dropped by a firewall or load balancer" : "");
    }
  }
  (void)zone;
  v1::Finding* f = r.add_findings();
  f->set_cause("resets_dropped");
  f->set_title("resets are dropped by a firewall or load balancer");
  f->add_scenarios(v1::SCENARIO_ABORTIVE_CLOSE);
  f->set_paths(1);
  f->set_tasks(2);
  f->set_deviated(2);
  v1::Place* place = f->add_places();
  place->set_kind(v1::PLACE_PATH);
  place->set_text("agent-0 -> agent-3");
  place->set_paths(1);
  f->add_evidence(
      "abortive_close: the initiator saw TIMEOUT before all of its peer's bytes arrived (2 tasks)");
  v1::InconclusiveReason* why = r.add_inconclusive();
  why->set_judged_by("responder_silent");
  why->set_text("the responder's agent was not heard from after the test");
  why->set_tasks(2);
  why->add_agents("agent-4 (2)");
  return r;
}

size_t CountMatches(const std::string& text, const std::regex& re) {
  return std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator());
}

TEST(HtmlReportTest, MatrixCellsColouredByVerdictWithDetailsAndFindingsFirst) {
  const std::string html = RenderHtmlReport(BigReport());
  ASSERT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // Self-contained: nothing is fetched.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // Escaped: the plan name's markup is text.
  EXPECT_NE(html.find("audit &lt;prod&gt; &amp; co"), std::string::npos);
  EXPECT_EQ(html.find("<prod>"), std::string::npos);

  // Findings come before the matrices and name the zone pair and behaviour.
  size_t findings = html.find("<section id=\"findings\">");
  size_t zones = html.find("<section id=\"zones\">");
  size_t agents = html.find("<section id=\"agents\">");
  ASSERT_NE(findings, std::string::npos);
  EXPECT_LT(findings, zones);
  EXPECT_LT(zones, agents);
  // Each finding: the cause, where, and "N of M tasks"; then what could not be judged.
  const std::string section = html.substr(findings, zones - findings);
  EXPECT_NE(section.find("<b>resets are dropped by a firewall or load balancer</b>"),
            std::string::npos)
      << section;
  EXPECT_NE(section.find("where: <span class=\"place\">agent-0 -&gt; agent-3</span>"),
            std::string::npos);
  EXPECT_NE(section.find("2 of 2 tasks on 1 path (abortive_close)"), std::string::npos);
  EXPECT_NE(section.find("the initiator saw TIMEOUT"), std::string::npos);
  EXPECT_NE(section.find("<h3>Not judged: 2 tasks</h3>"), std::string::npos);
  EXPECT_NE(section.find("agent-4 (2)"), std::string::npos);

  // Every ordered pair of the 60 agents is a cell coloured by its share of deviating tasks;
  // a cell that is not all PASS points into a JSON list of details after the table.
  std::string agent_table = html.substr(agents);
  const std::regex cell(R"re(<td class="(p|i|x|d[1-4])"( data-k="(\d+)" tabindex="0")?>)re");
  std::map<std::string, int> by_class;
  std::vector<int> keys;
  for (auto it = std::sregex_iterator(agent_table.begin(), agent_table.end(), cell);
       it != std::sregex_iterator(); ++it) {
    ++by_class[(*it)[1]];
    if ((*it)[3].matched) keys.push_back(std::stoi((*it)[3]));
  }
  EXPECT_EQ(by_class["p"], 60 * 59 - 2);
  EXPECT_EQ(by_class["d4"], 1) << "2 of 2 tasks deviated: the darkest";
  EXPECT_EQ(by_class["i"], 1);
  EXPECT_EQ(by_class["x"], 60) << "the diagonal is empty";
  EXPECT_EQ(keys, (std::vector<int>{0, 1}));
  const size_t list =
      agent_table.find("<script type=\"application/json\" id=\"agent-matrix-details\">");
  ASSERT_NE(list, std::string::npos);
  const std::string details = agent_table.substr(list, agent_table.find("</script>", list) - list);
  EXPECT_NE(details.find("agent-0 -> agent-3: 2 of 2 tasks deviated, 0 inconclusive\\n"
                         "abortive_close: 0/2 pass, 2 deviation, 0 inconclusive; observed "
                         "TIMEOUTx2; p50 1.5ms p99 2.5ms - resets are dropped"),
            std::string::npos)
      << details;
  EXPECT_NE(details.find("agent-1 -> agent-4: 0 of 2 tasks deviated, 2 inconclusive"),
            std::string::npos);
  // The page grows with the pairs, not with text per cell: 3,600 cells in well under 200 kB
  // (2.3 MB with a tooltip per cell).
  EXPECT_LT(html.size(), 200'000u);
  EXPECT_EQ(agent_table.find(" title=\""), std::string::npos);
  // Colours by share, explained in the legend.
  EXPECT_NE(html.find(".d4{background:#6d0000}"), std::string::npos);
  EXPECT_NE(html.find("deviating &le;5%"), std::string::npos);
  // Readable at this size: vertical column heads, colour-only cells, a scrolling matrix.
  EXPECT_NE(html.find("writing-mode:vertical-rl"), std::string::npos);
  EXPECT_NE(html.find("overflow:auto"), std::string::npos);
  EXPECT_NE(agent_table.find("<table class=\"matrix compact\""), std::string::npos);
  EXPECT_EQ(CountMatches(agent_table, std::regex(R"(<th class="col">)")), 60u);
  // A small matrix shows counts: zone a -> a passed 0 of 2.
  const std::string zone_table = html.substr(zones, agents - zones);
  EXPECT_NE(zone_table.find("<td class=\"d4\" data-k=\"0\" tabindex=\"0\">0/2</td>"),
            std::string::npos)
      << zone_table;
  // Rows in natural order: agent-2 before agent-10.
  std::vector<std::string> rows;
  const std::regex row(R"(<th class="row">([^<]+)</th>)");
  for (auto it = std::sregex_iterator(agent_table.begin(), agent_table.end(), row);
       it != std::sregex_iterator(); ++it) {
    rows.push_back((*it)[1]);
  }
  ASSERT_EQ(rows.size(), 60u);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(rows[i], absl::StrCat("agent-", i));
}

TEST(HtmlReportTest, SaysWhenTheRunRanAndForHowLong) {
  v1::Report r;
  r.mutable_status()->set_run_id("run-2");
  r.mutable_status()->set_created_unix_ms(1'796'271'600'000);  // 2026-12-03 04:20:00 UTC
  r.mutable_status()->set_finished_unix_ms(1'796'271'600'000 + 72'400);
  const std::string html = RenderHtmlReport(r);
  EXPECT_NE(html.find("<p class=\"when\">started 2026-12-03T04:20:00Z, ended "
                      "2026-12-03T04:21:12Z after 1 min 12 s</p>"),
            std::string::npos)
      << html.substr(0, 3000);
}

TEST(HtmlReportTest, CleanRunSaysNoFinding) {
  v1::Report r;
  r.mutable_status()->set_run_id("run-1");
  *r.add_cells() = MakeCell("x", "y", v1::SCENARIO_GRACEFUL_CLOSE, v1::VERDICT_PASS);
  *r.add_zone_cells() = MakeCell("a", "a", v1::SCENARIO_GRACEFUL_CLOSE, v1::VERDICT_PASS);
  const std::string html = RenderHtmlReport(r);
  EXPECT_NE(html.find("No finding: every path ended connections as Linux predicts."),
            std::string::npos);
  EXPECT_EQ(html.find("class=\"finding\""), std::string::npos);
}

TEST(HtmlReportTest, IdleTimeoutsHaveTheirOwnTableWithShortTimersMarked) {
  v1::Report r;
  r.mutable_status()->set_run_id("run-2");
  *r.add_cells() = MakeCell("x", "y", v1::SCENARIO_IDLE_HOLD, v1::VERDICT_DEVIATION, "idle");
  v1::IdleTimeout* found = r.add_idle_timeouts();
  found->set_source("x");
  found->set_target("y");
  found->set_source_zone("z1");
  found->set_target_zone("z2");
  found->set_state(v1::IDLE_SEARCH_FOUND);
  found->set_lower_ms(2900);
  found->set_upper_ms(3020);
  found->set_estimate_ms(2960);
  found->set_plus_minus_ms(60);
  found->set_expiry(v1::IDLE_EXPIRY_RESET_NEXT_PACKET);
  found->set_summary("idle timeout 2.96 s <short>");
  v1::IdleTimeout* none = r.add_idle_timeouts();
  none->set_source("y");
  none->set_target("x");
  none->set_state(v1::IDLE_SEARCH_ABOVE_MAX);
  none->set_lower_ms(7'440'000);
  const std::string html = RenderHtmlReport(r);
  const size_t section = html.find("<section id=\"idle-timeouts\">");
  ASSERT_NE(section, std::string::npos);
  EXPECT_LT(html.find("id=\"findings\""), section) << "findings stay first";
  std::smatch m;
  std::string rest = html.substr(section);
  ASSERT_TRUE(std::regex_search(
      rest, m,
      std::regex("<tr class=\"idle-short\"><td>x</td><td>y</td><td>z1 \xE2\x86\x92 z2</td>"
                 "<td>found</td><td>2.96 s \xC2\xB1 0.06 s</td><td>reset_next_packet</td>")));
  EXPECT_NE(rest.find("idle timeout 2.96 s &lt;short&gt;"), std::string::npos) << "escaped";
  EXPECT_NE(rest.find("<tr class=\"idle-ok\"><td>y</td><td>x</td>"), std::string::npos);
  EXPECT_EQ(CountMatches(rest.substr(0, rest.find("</section>")), std::regex("<tr class=")), 2u);
}

}  // namespace
}  // namespace rstmesh
