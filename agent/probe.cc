#include "agent/probe.h"

#include <deque>
#include <map>
#include <ostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/data_plane.h"
#include "agent/observation_format.h"
#include "core/endpoint.h"

namespace rstmesh {
namespace {

struct Tally {
  int runs = 0;
  int matched = 0;
  int deviated = 0;
  int unsupported = 0;
  void Add(const v1::Observation& obs) {
    ++runs;
    if (obs.matched()) {
      ++matched;
    } else if (IsUnsupported(obs)) {
      ++unsupported;
    } else {
      ++deviated;
    }
  }
};

std::string KnownScenarios() {
  std::vector<std::string> names;
  for (const ScenarioDef* def : AllScenarios()) names.emplace_back(def->name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::vector<const ScenarioDef*>> SelectScenarios(
    const std::vector<std::string>& wanted) {
  std::vector<const ScenarioDef*> out;
  for (const std::string& name : wanted) {
    if (name == "all") {
      for (const ScenarioDef* def : AllScenarios()) out.push_back(def);
      continue;
    }
    const ScenarioDef* def = FindScenario(name);
    if (def == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--scenario: unknown scenario '", name,
                                                     "' (known: ", KnownScenarios(), ", all)"));
    }
    out.push_back(def);
  }
  if (out.empty()) return absl::InvalidArgumentError("--scenario: name at least one scenario");
  return out;
}

absl::Status CheckOptions(const ProbeOptions& o) {
  if (o.count < 1 || o.count > 100000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--count: ", o.count, " is out of range (1 to 100000)"));
  }
  if (o.parallel < 1 || o.parallel > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--parallel: ", o.parallel, " is out of range (1 to 1000)"));
  }
  if (o.output != "table" && o.output != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("-o: '", o.output, "' is not an output format (table, json)"));
  }
  if (o.timeouts.connect.count() <= 0 || o.timeouts.io.count() <= 0) {
    return absl::InvalidArgumentError("--connect-timeout / --io-timeout: must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

int RunProbe(const ProbeOptions& o, std::ostream& out, std::ostream& err) {
  auto usage_error = [&err](const absl::Status& status) {
    err << "rstmesh-agent probe: " << status.message() << "\n";
    return kExitUsage;
  };
  if (absl::Status ok = CheckOptions(o); !ok.ok()) return usage_error(ok);
  absl::StatusOr<HostPort> host_port = ParseHostPort(o.peer, 7402);
  if (!host_port.ok()) return usage_error(host_port.status());
  absl::StatusOr<asio::ip::tcp::endpoint> peer = Resolve(*host_port);
  if (!peer.ok()) return usage_error(peer.status());
  std::optional<asio::ip::address> source;
  if (!o.source.empty()) {
    boost::system::error_code ec;
    source = asio::ip::make_address(o.source, ec);
    if (ec) {
      return usage_error(absl::InvalidArgumentError(
          absl::StrCat("--source: '", o.source, "' is not an IP address")));
    }
  }
  absl::StatusOr<std::vector<const ScenarioDef*>> defs = SelectScenarios(o.scenarios);
  if (!defs.ok()) return usage_error(defs.status());
  for (const ScenarioDef* def : *defs) {
    absl::Status valid = ValidateParams(*def, ResolveParams(*def, o.params));
    if (!valid.ok()) {
      return usage_error(
          absl::InvalidArgumentError(absl::StrCat("scenario ", def->name, ": ", valid.message())));
    }
  }

  // Task ids: a random prefix, so that the responder's log lines of different probes differ.
  const uint64_t prefix = static_cast<uint64_t>(std::random_device{}()) << 32;
  DataPlane plane(1);
  std::deque<std::future<v1::Observation>> in_flight;
  std::map<int, Tally> tallies;  // by scenario id, in catalogue order
  Tally total;
  const bool table = o.output == "table";
  std::vector<std::string> json_rows;
  if (table) out << ObservationTableHeader() << "\n" << std::flush;

  auto collect = [&] {
    v1::Observation obs = in_flight.front().get();
    in_flight.pop_front();
    tallies[obs.scenario()].Add(obs);
    total.Add(obs);
    if (table) {
      out << ObservationTableRow(obs) << "\n" << std::flush;
    } else {
      json_rows.push_back(ObservationJson(obs));
    }
  };
  uint64_t seq = 0;
  for (const ScenarioDef* def : *defs) {
    for (int i = 0; i < o.count; ++i) {
      Task task;
      task.task_id = prefix | ++seq;
      task.scenario = def->id;
      task.peer = *peer;
      task.closed_port = o.closed_port;
      task.source = source;
      task.params = o.params;
      task.key = o.key;
      task.timeouts = o.timeouts;
      in_flight.push_back(plane.RunTask(std::move(task)));
      if (static_cast<int>(in_flight.size()) >= o.parallel) collect();
    }
  }
  while (!in_flight.empty()) collect();

  if (table) {
    out << "\n"
        << absl::StrFormat("%-24s %6s %8s %9s %12s\n", "SCENARIO", "RUNS", "MATCHED", "DEVIATED",
                           "UNSUPPORTED");
    for (const auto& [id, tally] : tallies) {
      out << absl::StrFormat("%-24s %6d %8d %9d %12d\n",
                             FindScenario(static_cast<v1::Scenario>(id))->name, tally.runs,
                             tally.matched, tally.deviated, tally.unsupported);
    }
    out << absl::StrFormat("%d runs against %s: %d matched, %d deviated, %d unsupported\n",
                           total.runs, FormatEndpoint(*peer), total.matched, total.deviated,
                           total.unsupported);
  } else {
    std::vector<std::string> summary;
    for (const auto& [id, tally] : tallies) {
      summary.push_back(absl::StrFormat(
          R"({"scenario":"%s","runs":%d,"matched":%d,"deviated":%d,"unsupported":%d})",
          FindScenario(static_cast<v1::Scenario>(id))->name, tally.runs, tally.matched,
          tally.deviated, tally.unsupported));
    }
    out << absl::StrFormat(R"({"peer":"%s","runs":%d,"matched":%d,"deviated":%d,"unsupported":%d,)"
                           R"("summary":[%s],"observations":[%s]})"
                           "\n",
                           FormatEndpoint(*peer), total.runs, total.matched, total.deviated,
                           total.unsupported, absl::StrJoin(summary, ","),
                           absl::StrJoin(json_rows, ","));
  }
  return total.deviated > 0 ? kExitDeviated : kExitMatched;
}

}  // namespace rstmesh
