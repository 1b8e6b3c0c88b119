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

const char* VerdictClass(v1::Verdict v) {
  switch (v) {
    case v1::VERDICT_PASS:
      return "v-pass";
    case v1::VERDICT_DEVIATION:
      return "v-deviation";
    case v1::VERDICT_INCONCLUSIVE:
      return "v-inconclusive";
    default:
      return "v-none";
  }
}

// Cells of one (source, target) over every scenario.
struct PairCells {
  std::vector<const v1::Cell*> cells;
  v1::Verdict Verdict() const {
    bool inconclusive = false;
    for (const v1::Cell* c : cells) {
      if (c->verdict() == v1::VERDICT_DEVIATION) return v1::VERDICT_DEVIATION;
      inconclusive |= c->verdict() == v1::VERDICT_INCONCLUSIVE;
    }
    return inconclusive ? v1::VERDICT_INCONCLUSIVE : v1::VERDICT_PASS;
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

// Natural order, so that agent-2 comes before agent-10.
struct NaturalLess {
  bool operator()(const std::string& a, const std::string& b) const {
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
      if (std::isdigit(static_cast<unsigned char>(a[i])) &&
          std::isdigit(static_cast<unsigned char>(b[j]))) {
        size_t ei = i, ej = j;
        while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
        while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
        // Without leading zeros, the longer run of digits is the larger number.
        absl::string_view x = absl::string_view(a).substr(i, ei - i);
        absl::string_view y = absl::string_view(b).substr(j, ej - j);
        while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
        while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
        if (x.size() != y.size()) return x.size() < y.size();
        if (x != y) return x < y;
        i = ei;
        j = ej;
      } else {
        if (a[i] != b[j]) return a[i] < b[j];
        ++i;
        ++j;
      }
    }
    if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
    return a < b;  // equal up to leading zeros: any fixed order
  }
};

std::string Matrix(const std::string& id, const std::vector<v1::Cell>& cells,
                   const std::string& what) {
  std::set<std::string, NaturalLess> names;
  std::map<std::pair<std::string, std::string>, PairCells> pairs;
  for (const v1::Cell& c : cells) {
    std::string src = c.source().empty() ? "?" : c.source();
    std::string dst = c.target().empty() ? "?" : c.target();
    names.insert(src);
    names.insert(dst);
    pairs[{src, dst}].cells.push_back(&c);
  }
  std::string out = absl::StrCat("<div class=\"scroll\"><table class=\"matrix\" id=\"", id,
                                 "\"><thead><tr><th class=\"corner\">", Esc(what), "</th>");
  for (const std::string& n : names)
    absl::StrAppend(&out, "<th class=\"col\"><span>", Esc(n), "</span></th>");
  absl::StrAppend(&out, "</tr></thead><tbody>");
  for (const std::string& src : names) {
    absl::StrAppend(&out, "<tr><th class=\"row\">", Esc(src), "</th>");
    for (const std::string& dst : names) {
      auto it = pairs.find({src, dst});
      if (it == pairs.end()) {
        absl::StrAppend(&out, "<td class=\"cell v-none\"></td>");
        continue;
      }
      const PairCells& p = it->second;
      uint32_t tasks = 0, pass = 0;
      for (const v1::Cell* c : p.cells) {
        tasks += c->tasks();
        pass += c->pass();
      }
      std::string details = absl::StrCat(src, " -> ", dst, "\n", p.Details());
      absl::StrAppend(&out, "<td class=\"cell ", VerdictClass(p.Verdict()), "\" data-source=\"",
                      Esc(src), "\" data-target=\"", Esc(dst), "\" title=\"", Esc(details),
                      "\" tabindex=\"0\">", pass, "/", tasks, "</td>");
    }
    absl::StrAppend(&out, "</tr>");
  }
  absl::StrAppend(&out, "</tbody></table></div>");
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
td.cell{min-width:2.4em;height:1.6em;text-align:center;border:1px solid #fff;cursor:pointer;color:#fff}
td.v-pass{background:#2e7d32}td.v-deviation{background:#c62828}
td.v-inconclusive{background:#f9a825;color:#222}td.v-none{background:#eee}
#details{white-space:pre-wrap;font-family:monospace;background:#f6f6f6;padding:.6em;min-height:2em}
.legend span{display:inline-block;padding:0 .5em;margin-right:.5em;color:#fff}
table.idle{border-collapse:collapse}table.idle td,table.idle th{border:1px solid #ddd;padding:2px 6px;text-align:left;white-space:nowrap}
table.idle td:last-child{white-space:normal}
tr.idle-short td{background:#fdecea}
</style></head><body>
<h1>rstmesh audit: )",
                   Esc(s.run_id()), s.plan_name().empty() ? "" : " (" + Esc(s.plan_name()) + ")",
                   "</h1>\n<p class=\"summary\">", Esc(SummaryLine(s)), "</p>\n");
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
                  "<p class=\"legend\"><span class=\"cell v-pass\" style=\"background:#2e7d32\">"
                  "PASS</span><span style=\"background:#c62828\">DEVIATION</span><span "
                  "style=\"background:#f9a825;color:#222\">INCONCLUSIVE</span> Cells show "
                  "passing/all tasks over every scenario; hover or click one for details.</p>\n");
  absl::StrAppend(
      &out, "<section id=\"zones\"><h2>Zones (source \xE2\x86\x92 destination)</h2>",
      Matrix("zone-matrix", {report.zone_cells().begin(), report.zone_cells().end()}, "zone"),
      "</section>\n");
  absl::StrAppend(&out, "<section id=\"agents\"><h2>Agents (source \xE2\x86\x92 destination)</h2>",
                  Matrix("agent-matrix", {report.cells().begin(), report.cells().end()}, "agent"),
                  "</section>\n<h2>Details</h2><div id=\"details\">Click a cell.</div>\n");
  // Inline, no network: show a clicked cell's details below the matrices.
  absl::StrAppend(&out, R"(<script>
document.querySelectorAll('td.cell[title]').forEach(function (td) {
  var show = function () { document.getElementById('details').textContent = td.title; };
  td.addEventListener('click', show);
  td.addEventListener('keydown', function (e) { if (e.key === 'Enter') show(); });
});
</script>
</body></html>
)");
  return out;
}

}  // namespace rstmesh
