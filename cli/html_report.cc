#include "cli/html_report.h"

#include <cctype>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "cli/report_format.h"
#include "controller/idle_discovery.h"
#include "core/closure.h"
#include "core/natural_order.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

std::string Esc(absl::string_view s) {
  return absl::StrReplaceAll(
      s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

std::string ScenarioName(v1::Scenario id) {
  const ScenarioDef* def = FindScenario(id);
  return def ? std::string(def->name) : absl::StrCat("scenario#", id);
}

// Cells of one (source, target) over every scenario.
struct PairCells {
  std::vector<const v1::Cell*> cells;
  uint32_t tasks = 0, pass = 0, deviation = 0, inconclusive = 0;

  void Add(const v1::Cell* c) {
    cells.push_back(c);
    tasks += c->tasks();
    pass += c->pass();
    deviation += c->deviation();
    inconclusive += c->inconclusive();
  }
  // The colour: by the share of deviating tasks, so that one deviation in a hundred is not
  // painted like a path that resets everything.
  const char* Class() const {
    if (deviation == 0) return inconclusive > 0 ? "i" : "p";
    const double share = static_cast<double>(deviation) / tasks;
    if (share <= 0.05) return "d1";
    if (share <= 0.25) return "d2";
    if (share <= 0.75) return "d3";
    return "d4";
  }
  std::string Details() const {
    std::vector<std::string> lines;
    for (const v1::Cell* c : cells) {
      std::vector<std::string> observed;
      for (const auto& [name, n] : c->observed()) observed.push_back(absl::StrCat(name, "x", n));
      std::sort(observed.begin(), observed.end());
      lines.push_back(absl::StrFormat(
          "%s: %d/%d pass, %d deviation, %d inconclusive; observed %s; p50 %.1fms p99 %.1fms%s",
          ScenarioName(c->scenario()), c->pass(), c->tasks(), c->deviation(), c->inconclusive(),
          absl::StrJoin(observed, ","), c->time_to_observe_p50_us() / 1000.0,
          c->time_to_observe_p99_us() / 1000.0,
          c->diagnosis().empty() ? "" : absl::StrCat(" - ", c->diagnosis())));
    }
    return absl::StrJoin(lines, "\n");
  }
};

// A JSON string that is safe inside a <script> element.
std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '<':
        out += "\\u003c";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Above this many agents (or zones) a matrix cell shows only its colour, so that 100 agents
// fit a 1400 px window; the counts are in the details.
constexpr size_t kCountsUpTo = 24;

// A matrix of pairs: one cell per (source, target), coloured by its share of deviating
// tasks. A cell that is not all PASS has its details in a JSON list after the table (shown
// on click), so the page grows with the pairs, not with text per cell.
std::string Matrix(const std::string& id, const std::vector<v1::Cell>& cells,
                   const std::string& what) {
  std::set<std::string, NaturalLess> names;
  std::map<std::pair<std::string, std::string>, PairCells> pairs;
  for (const v1::Cell& c : cells) {
    std::string src = c.source().empty() ? "?" : c.source();
    std::string dst = c.target().empty() ? "?" : c.target();
    names.insert(src);
    names.insert(dst);
    pairs[{src, dst}].Add(&c);
  }
  const bool counts = names.size() <= kCountsUpTo;
  std::string out =
      absl::StrCat("<div class=\"scroll\"><table class=\"matrix", counts ? "" : " compact",
                   "\" id=\"", id, "\"><thead><tr><th class=\"corner\">", Esc(what), "</th>");
  for (const std::string& n : names) {
    absl::StrAppend(&out, "<th class=\"col\"><span>", Esc(n), "</span></th>");
  }
  absl::StrAppend(&out, "</tr></thead><tbody>");
  std::vector<std::string> details;
  for (const std::string& src : names) {
    absl::StrAppend(&out, "<tr><th class=\"row\">", Esc(src), "</th>");
    for (const std::string& dst : names) {
      auto it = pairs.find({src, dst});
      if (it == pairs.end()) {
        absl::StrAppend(&out, "<td class=\"x\"></td>");
        continue;
      }
      const PairCells& p = it->second;
      const std::string cls = p.Class();
      absl::StrAppend(&out, "<td class=\"", cls, "\"");
      if (cls != "p") {
        absl::StrAppend(&out, " data-k=\"", details.size(), "\" tabindex=\"0\"");
        details.push_back(JsonString(absl::StrCat(src, " -> ", dst, ": ", p.deviation, " of ",
                                                  p.tasks, " tasks deviated, ", p.inconclusive,
                                                  " inconclusive\n", p.Details())));
      }
      absl::StrAppend(&out, ">", counts ? absl::StrCat(p.pass, "/", p.tasks) : "", "</td>");
    }
    absl::StrAppend(&out, "</tr>");
  }
  absl::StrAppend(&out, "</tbody></table></div><script type=\"application/json\" id=\"", id,
                  "-details\">[", absl::StrJoin(details, ","), "]</script>");
  return out;
}

// One entry per cause: where, what it explains with "N of M tasks", the evidence; then the
// tasks that could not be judged, by reason.
std::string FindingsHtml(const v1::Report& report) {
  std::string out = "<ul class=\"findings\">";
  uint64_t inconclusive = 0;
  for (const v1::InconclusiveReason& r : report.inconclusive()) inconclusive += r.tasks();
  if (report.findings().empty()) {
    absl::StrAppend(&out, inconclusive == 0
                              ? "<li class=\"finding-none\">No finding: every path ended "
                                "connections as Linux predicts.</li>"
                              : absl::StrCat("<li class=\"finding-incomplete\">No finding among "
                                             "the judged tasks, but ",
                                             inconclusive,
                                             " tasks could not be judged: the audit is not "
                                             "complete.</li>"));
  }
  for (const v1::Finding& f : report.findings()) {
    std::vector<std::string> places, scenarios;
    for (const v1::Place& p : f.places()) {
      places.push_back(absl::StrCat("<span class=\"place\">", Esc(p.text()), "</span>"));
    }
    for (int id : f.scenarios()) scenarios.push_back(ScenarioName(static_cast<v1::Scenario>(id)));
    absl::StrAppend(&out, "<li class=\"finding\" data-cause=\"", Esc(f.cause()), "\"><b>",
                    Esc(f.title()), "</b><div class=\"where\">where: ", absl::StrJoin(places, "; "),
                    "</div><div class=\"counts\">", f.deviated(), " of ", f.tasks(), " tasks on ",
                    f.paths(), f.paths() == 1 ? " path" : " paths", " (",
                    Esc(absl::StrJoin(scenarios, ", ")), ")</div>");
    if (!f.evidence().empty()) {
      absl::StrAppend(&out, "<ul class=\"evidence\">");
      for (const std::string& e : f.evidence()) absl::StrAppend(&out, "<li>", Esc(e), "</li>");
      absl::StrAppend(&out, "</ul>");
    }
    if (!f.also_consistent_with().empty()) {
      absl::StrAppend(&out, "<div class=\"also\">also consistent with: ",
                      Esc(absl::StrJoin(f.also_consistent_with(), "; ")), "</div>");
    }
    absl::StrAppend(&out, "</li>");
  }
  absl::StrAppend(&out, "</ul>");
  if (inconclusive > 0) {
    absl::StrAppend(&out, "<h3>Not judged: ", inconclusive,
                    " tasks</h3><ul class=\"inconclusive\">");
    for (const v1::InconclusiveReason& r : report.inconclusive()) {
      absl::StrAppend(&out, "<li data-reason=\"", Esc(r.judged_by()), "\">", r.tasks(),
                      " tasks: ", Esc(r.text()),
                      r.agents().empty()
                          ? ""
                          : absl::StrCat(" <i>(", Esc(absl::StrJoin(r.agents(), ", ")), ")</i>"),
                      "</li>");
    }
    absl::StrAppend(&out, "</ul>");
  }
  return out;
}

}  // namespace

std::string RenderHtmlReport(const v1::Report& report) {
  const v1::RunStatus& s = report.status();
  std::string out =
      absl::StrCat(R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>rstmesh audit )",
                   Esc(s.run_id()), R"(</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
.summary{font-weight:600}
.findings>li{margin:.5em 0}.finding-none{color:#2e7d32}.finding-incomplete{color:#a05a00}
.where,.counts,.also{margin-left:1em}.place{font-weight:600}.evidence{margin:.2em 0;font-size:.9em}
.scroll{overflow:auto;max-width:100%;max-height:80vh;border:1px solid #ddd}
table.matrix{border-collapse:collapse;font-size:10px}
table.matrix th.col{height:7em;vertical-align:bottom;padding:0 1px}
table.matrix th.col span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
table.matrix th.row{text-align:right;padding-right:4px;white-space:nowrap;position:sticky;left:0;background:#fff}
table.matrix td{min-width:2.4em;height:1.6em;text-align:center;border:1px solid #fff;color:#fff;padding:0 3px;white-space:nowrap}
table.compact td{min-width:0;width:9px;height:9px;padding:0}
table.compact th.col{height:5.5em;padding:0}table.compact th.col span{line-height:9px}table.compact{font-size:8px}
td[data-k]{cursor:pointer}
.p{background:#2e7d32}.i{background:#f9a825;color:#222}.x{background:#eee}
.d1{background:#f4b4ae;color:#222}.d2{background:#e57373}.d3{background:#c62828}.d4{background:#6d0000}
#details{white-space:pre-wrap;font-family:monospace;background:#f6f6f6;padding:.6em;min-height:2em}
.legend span{display:inline-block;padding:0 .5em;margin-right:.3em;color:#fff}
.when{color:#555}
table.idle{border-collapse:collapse}table.idle td,table.idle th{border:1px solid #ddd;padding:2px 6px;text-align:left;white-space:nowrap}
table.idle td:last-child{white-space:normal}
tr.idle-short td{background:#fdecea}
</style></head><body>
<h1>rstmesh audit: )",
                   Esc(s.run_id()), s.plan_name().empty() ? "" : " (" + Esc(s.plan_name()) + ")",
                   "</h1>\n<p class=\"summary\">", Esc(SummaryLine(s)), "</p>\n<p class=\"when\">",
                   Esc(RunTimes(s)), "</p>\n");
  absl::StrAppend(&out, "<section id=\"findings\"><h2>Findings</h2>", FindingsHtml(report),
                  "</section>\n");
  if (!report.idle_timeouts().empty()) {
    absl::StrAppend(&out,
                    "<section id=\"idle-timeouts\"><h2>Idle timeouts</h2><p>RFC 5382 REQ-5 asks "
                    "NATs to keep an established connection idle for at least 7440 s (2 h 4 "
                    "min).</p><table class=\"idle\"><thead><tr><th>source</th><th>target</th>"
                    "<th>zones</th><th>state</th><th>timeout</th><th>at expiry</th>"
                    "<th>connections</th><th>summary</th></tr></thead><tbody>");
    for (const v1::IdleTimeout& t : report.idle_timeouts()) {
      const std::string timeout = IdleTimeoutText(t, "\xC2\xB1");
      // Marked as the summary judges it: by the estimate against RFC 5382's 7440 s.
      const bool short_timer = (t.estimate_ms() > 0 && t.estimate_ms() < kRfc5382IdleMs) ||
                               t.state() == v1::IDLE_SEARCH_BELOW_MIN;
      absl::StrAppend(&out, "<tr class=\"", short_timer ? "idle-short" : "idle-ok", "\"><td>",
                      Esc(t.source()), "</td><td>", Esc(t.target()), "</td><td>",
                      Esc(t.source_zone()), " \xE2\x86\x92 ", Esc(t.target_zone()), "</td><td>",
                      Esc(IdleSearchStateName(t.state())), "</td><td>", Esc(timeout), "</td><td>",
                      Esc(IdleExpiryName(t.expiry())), "</td><td>", t.connections(), "</td><td>",
                      Esc(t.summary()), "</td></tr>");
    }
    absl::StrAppend(&out, "</tbody></table></section>\n");
  }
  absl::StrAppend(&out,
                  "<p class=\"legend\"><span class=\"p\">all pass</span><span class=\"d1\">"
                  "deviating &le;5%</span><span class=\"d2\">&le;25%</span><span class=\"d3\">"
                  "&le;75%</span><span class=\"d4\">&gt;75%</span><span class=\"i\">"
                  "inconclusive only</span> Each cell is one ordered pair over every scenario, "
                  "coloured by its share of deviating tasks; click a coloured one for its "
                  "details.</p>\n");
  absl::StrAppend(
      &out, "<section id=\"zones\"><h2>Zones (source \xE2\x86\x92 destination)</h2>",
      Matrix("zone-matrix", {report.zone_cells().begin(), report.zone_cells().end()}, "zone"),
      "</section>\n");
  absl::StrAppend(&out, "<section id=\"agents\"><h2>Agents (source \xE2\x86\x92 destination)</h2>",
                  Matrix("agent-matrix", {report.cells().begin(), report.cells().end()}, "agent"),
                  "</section>\n<h2>Details</h2><div id=\"details\">Click a cell.</div>\n");
  // Inline, no network: a clicked cell's details, from its matrix's JSON list.
  absl::StrAppend(&out, R"(<script>
document.querySelectorAll('table.matrix').forEach(function (table) {
  var details = JSON.parse(document.getElementById(table.id + '-details').textContent);
  table.querySelectorAll('td[data-k]').forEach(function (td) {
    var show = function () {
      document.getElementById('details').textContent = details[+td.dataset.k];
    };
    td.title = 'click for details';
    td.addEventListener('click', show);
    td.addEventListener('keydown', function (e) { if (e.key === 'Enter') show(); });
  });
});
</script>
</body></html>
)");
  return out;
}

}  // namespace rstmesh
