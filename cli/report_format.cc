#include "cli/report_format.h"

#include "cli/ctl.h"
#include "cli/html_report.h"

#include <google/protobuf/util/json_util.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controller/idle_discovery.h"
#include "core/closure.h"
#include "core/scenario.h"
#include "core/wall_time.h"

namespace rstmesh {
namespace {

std::string ScenarioName(v1::Scenario id) {
  const ScenarioDef* def = FindScenario(id);
  return def ? std::string(def->name) : absl::StrCat("scenario#", id);
}

std::string VerdictName(v1::Verdict v) {
  switch (v) {
    case v1::VERDICT_PASS:
      return "PASS";
    case v1::VERDICT_DEVIATION:
      return "DEVIATION";
    case v1::VERDICT_INCONCLUSIVE:
      return "INCONCLUSIVE";
    default:
      return "-";
  }
}

std::string Observed(const v1::Cell& cell) {
  std::vector<std::string> parts;
  for (const auto& [name, n] : cell.observed()) parts.push_back(absl::StrCat(name, "x", n));
  std::sort(parts.begin(), parts.end());
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

std::string Ms(int64_t us) { return absl::StrFormat("%.1fms", us / 1000.0); }

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string ScenarioList(const v1::Finding& f) {
  std::vector<std::string> names;
  for (int id : f.scenarios()) names.push_back(ScenarioName(static_cast<v1::Scenario>(id)));
  return absl::StrJoin(names, ", ");
}

std::string PlaceList(const v1::Finding& f) {
  std::vector<std::string> places;
  for (const v1::Place& p : f.places()) {
    places.push_back(
        p.kind() == v1::PLACE_PATH && p.paths() > 1
            ? p.text()
            : absl::StrCat(p.text(), " (", p.paths(), p.paths() == 1 ? " path)" : " paths)"));
  }
  return absl::StrJoin(places, "; ");
}

uint64_t InconclusiveTasks(const v1::Report& report) {
  uint64_t n = 0;
  for (const v1::InconclusiveReason& r : report.inconclusive()) n += r.tasks();
  return n;
}

// One finding per cause, with where, what it explains, the counts and the evidence; then
// what could not be judged, by reason. "none" only when nothing deviated and every task
// was judged.
void Findings(const v1::Report& report, std::string& out) {
  absl::StrAppend(&out, "FINDINGS\n");
  const uint64_t inconclusive = InconclusiveTasks(report);
  if (report.findings().empty()) {
    if (inconclusive == 0) {
      absl::StrAppend(&out, "  none: every path ended connections as Linux predicts\n");
    } else {
      absl::StrAppend(&out, "  none among the judged tasks, but ", inconclusive,
                      " tasks could not be judged (INCONCLUSIVE below): the audit is not "
                      "complete\n");
    }
  }
  for (const v1::Finding& f : report.findings()) {
    absl::StrAppend(&out, "  ", f.title(), "\n      where: ", PlaceList(f),
                    "\n      explains: ", ScenarioList(f), "; ", f.deviated(), " of ", f.tasks(),
                    " tasks on ", f.paths(), f.paths() == 1 ? " path" : " paths", "\n");
    for (const std::string& e : f.evidence()) absl::StrAppend(&out, "      evidence: ", e, "\n");
    if (!f.also_consistent_with().empty()) {
      absl::StrAppend(&out,
                      "      also consistent with: ", absl::StrJoin(f.also_consistent_with(), "; "),
                      "\n");
    }
    if (!f.example_tasks().empty()) {
      absl::StrAppend(&out, "      tasks: ", absl::StrJoin(f.example_tasks(), ", "), "\n");
    }
  }
  if (inconclusive > 0) {
    absl::StrAppend(&out, "\nINCONCLUSIVE (", inconclusive, " tasks not judged)\n");
    for (const v1::InconclusiveReason& r : report.inconclusive()) {
      absl::StrAppend(&out, "  ", r.tasks(), " tasks: ", r.text(), "\n");
      if (!r.agents().empty()) {
        absl::StrAppend(&out, "      agents: ", absl::StrJoin(r.agents(), ", "), "\n");
      }
    }
  }
}

// Idle discovery: one line per pair, then what it means.
void IdleTimeouts(const v1::Report& report, std::string& out) {
  if (report.idle_timeouts().empty()) return;
  absl::StrAppend(
      &out, "\nIDLE TIMEOUTS (RFC 5382 REQ-5 asks NATs for at least 7440 s)\n",
      absl::StrFormat("  %-16s %-16s %-14s %-12s %-22s %-18s %5s %6s\n", "SOURCE", "TARGET",
                      "ZONES", "STATE", "TIMEOUT", "AT EXPIRY", "CONNS", "ROUNDS"));
  for (const v1::IdleTimeout& t : report.idle_timeouts()) {
    const std::string timeout = IdleTimeoutText(t);
    std::string expiry = IdleExpiryName(t.expiry());
    absl::StrAppend(
        &out,
        absl::StrFormat("  %-16s %-16s %-14s %-12s %-22s %-18s %5d %6d\n", t.source(), t.target(),
                        absl::StrCat(t.source_zone().empty() ? "?" : t.source_zone(), "->",
                                     t.target_zone().empty() ? "?" : t.target_zone()),
                        IdleSearchStateName(t.state()), timeout, expiry.empty() ? "-" : expiry,
                        t.connections(), t.rounds()));
    if (!t.summary().empty()) absl::StrAppend(&out, "      ", t.summary(), "\n");
  }
}

}  // namespace

std::string SummaryLine(const v1::RunStatus& s) {
  return absl::StrCat(
      s.run_id(), s.plan_name().empty() ? "" : absl::StrCat(" (", s.plan_name(), ")"), ": ",
      s.state(), ", ", s.done(), "/", s.total(), " tasks: ", s.pass(), " pass, ", s.deviation(),
      " deviation, ", s.inconclusive(), " inconclusive",
      s.store_error().empty() ? "" : absl::StrCat("; STORE ERROR: ", s.store_error()),
      s.owner().empty() ? "" : absl::StrCat("; owner ", s.owner()),
      s.created_unix_ms() == 0 ? "" : absl::StrCat("; ", RunTimes(s)));
}

std::string RunTimes(const v1::RunStatus& s) {
  if (s.created_unix_ms() == 0) return "";
  std::string out = absl::StrCat("started ", Rfc3339(s.created_unix_ms()));
  if (s.finished_unix_ms() > 0) {
    const int64_t seconds = (s.finished_unix_ms() - s.created_unix_ms() + 500) / 1000;
    absl::StrAppend(&out, ", ended ", Rfc3339(s.finished_unix_ms()), " after ",
                    seconds >= 60 ? absl::StrCat(seconds / 60, " min ", seconds % 60, " s")
                                  : absl::StrCat(seconds, " s"));
  }
  return out;
}

int AuditExitCode(const v1::RunStatus& status) {
  if (status.deviation() > 0) return kCtlDeviations;
  if (status.state() != "finished" || status.done() < status.total()) return kCtlUnavailable;
  if (status.inconclusive() > 0) return kCtlInconclusive;
  return kCtlOk;
}

absl::StatusOr<std::string> RenderReport(const v1::Report& report, const std::string& format) {
  std::string out;
  if (format == "json") {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    if (!google::protobuf::util::MessageToJsonString(report, &out, options).ok()) {
      return absl::InternalError("report: cannot render JSON");
    }
    return out + "\n";
  }
  if (format == "html") return RenderHtmlReport(report);
  if (format == "csv") {
    absl::StrAppend(&out,
                    "source,target,scenario,tasks,pass,deviation,inconclusive,observed,"
                    "p50_us,p99_us,verdict,diagnosis\n");
    for (const v1::Cell& c : report.cells()) {
      absl::StrAppend(&out, CsvField(c.source()), ",", CsvField(c.target()), ",",
                      ScenarioName(c.scenario()), ",", c.tasks(), ",", c.pass(), ",", c.deviation(),
                      ",", c.inconclusive(), ",", CsvField(Observed(c)), ",",
                      c.time_to_observe_p50_us(), ",", c.time_to_observe_p99_us(), ",",
                      VerdictName(c.verdict()), ",", CsvField(c.diagnosis()), "\n");
    }
    return out;
  }
  if (format == "findings-csv") {
    absl::StrAppend(&out,
                    "cause,title,places,scenarios,paths,deviated,tasks,evidence,"
                    "also_consistent_with,example_tasks\n");
    for (const v1::Finding& f : report.findings()) {
      absl::StrAppend(&out, f.cause(), ",", CsvField(f.title()), ",", CsvField(PlaceList(f)), ",",
                      CsvField(ScenarioList(f)), ",", f.paths(), ",", f.deviated(), ",", f.tasks(),
                      ",", CsvField(absl::StrJoin(f.evidence(), "; ")), ",",
                      CsvField(absl::StrJoin(f.also_consistent_with(), "; ")), ",",
                      CsvField(absl::StrJoin(f.example_tasks(), " ")), "\n");
    }
    for (const v1::InconclusiveReason& r : report.inconclusive()) {
      absl::StrAppend(&out, "inconclusive:", r.judged_by(), ",", CsvField(r.text()), ",",
                      CsvField(absl::StrJoin(r.agents(), "; ")), ",,,,", r.tasks(), ",,,",
                      CsvField(absl::StrJoin(r.example_tasks(), " ")), "\n");
    }
    return out;
  }
  if (format != "table" && format != "wide") {
    return absl::InvalidArgumentError(absl::StrCat(
        "-o: '", format, "' is not a report format (table, wide, json, csv, findings-csv, html)"));
  }
  absl::StrAppend(&out, SummaryLine(report.status()), "\n\n");
  Findings(report, out);
  IdleTimeouts(report, out);
  absl::StrAppend(&out, "\nZONES\n",
                  absl::StrFormat("  %-12s %-12s %-24s %6s %6s %6s %6s  %s\n", "SOURCE", "TARGET",
                                  "SCENARIO", "TASKS", "PASS", "DEV", "INC", "VERDICT"));
  for (const v1::Cell& c : report.zone_cells()) {
    absl::StrAppend(
        &out, absl::StrFormat("  %-12s %-12s %-24s %6d %6d %6d %6d  %s\n",
                              c.source().empty() ? "?" : c.source(),
                              c.target().empty() ? "?" : c.target(), ScenarioName(c.scenario()),
                              c.tasks(), c.pass(), c.deviation(), c.inconclusive(),
                              VerdictName(c.verdict())));
  }
  if (report.agent_cells_omitted()) {
    absl::StrAppend(&out, "\nAGENT PAIRS\n  not rolled up: the run has ", report.status().total(),
                    " tasks, more than the 200000 a report rolls up per agent pair; FINDINGS and "
                    "ZONES cover every task, `rstmeshctl export` streams every observation\n");
    return out;
  }
  if (format == "wide") {
    absl::StrAppend(&out, "\nCELLS\n",
                    absl::StrFormat("  %-16s %-16s %-24s %5s %5s %5s %5s %-22s %9s %9s  %s\n",
                                    "SOURCE", "TARGET", "SCENARIO", "TASKS", "PASS", "DEV", "INC",
                                    "OBSERVED", "P50", "P99", "VERDICT"));
    for (const v1::Cell& c : report.cells()) {
      absl::StrAppend(
          &out, absl::StrFormat("  %-16s %-16s %-24s %5d %5d %5d %5d %-22s %9s %9s  %s%s\n",
                                c.source(), c.target(), ScenarioName(c.scenario()), c.tasks(),
                                c.pass(), c.deviation(), c.inconclusive(), Observed(c),
                                Ms(c.time_to_observe_p50_us()), Ms(c.time_to_observe_p99_us()),
                                VerdictName(c.verdict()),
                                c.diagnosis().empty() ? "" : ": " + c.diagnosis()));
    }
    return out;
  }
  // The agent-pair matrix, summarised: one row per pair over every scenario.
  struct PairSummary {
    uint32_t tasks = 0, pass = 0, deviation = 0, inconclusive = 0;
  };
  std::map<std::pair<std::string, std::string>, PairSummary> pairs;
  for (const v1::Cell& c : report.cells()) {
    PairSummary& p = pairs[{c.source(), c.target()}];
    p.tasks += c.tasks();
    p.pass += c.pass();
    p.deviation += c.deviation();
    p.inconclusive += c.inconclusive();
  }
  absl::StrAppend(&out, "\nAGENT PAIRS (every scenario)\n",
                  absl::StrFormat("  %-16s %-16s %6s %6s %6s %6s  %s\n", "SOURCE", "TARGET",
                                  "TASKS", "PASS", "DEV", "INC", "VERDICT"));
  for (const auto& [pair, p] : pairs) {
    std::string verdict = p.deviation > 0      ? "DEVIATION"
                          : p.inconclusive > 0 ? "INCONCLUSIVE"
                                               : "PASS";
    absl::StrAppend(&out,
                    absl::StrFormat("  %-16s %-16s %6d %6d %6d %6d  %s\n", pair.first, pair.second,
                                    p.tasks, p.pass, p.deviation, p.inconclusive, verdict));
  }
  return out;
}

}  // namespace rstmesh
