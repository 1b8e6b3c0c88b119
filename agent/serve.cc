#include "agent/serve.h"

#include <signal.h>

#include <mutex>
#include <ostream>

#include "absl/strings/str_format.h"
#include "agent/data_plane.h"
#include "agent/observation_format.h"
#include "core/endpoint.h"

namespace rstmesh {

std::string FormatCounters(const ResponderCounters& c) {
  return absl::StrFormat(
      "accepted=%d completed=%d active=%d peak_active=%d over_limit=%d over_source_limit=%d "
      "rejected=%d "
      "(header_timeout=%d truncated=%d bad_magic=%d bad_version=%d bad_scenario=%d "
      "bad_params=%d bad_authenticator=%d unknown_run=%d expired_run=%d replayed=%d) "
      "accept_errors=%d",
      c.accepted, c.tests_completed, c.active, c.peak_active, c.over_limit, c.over_source_limit,
      c.rejected(), c.header_timeout, c.truncated, c.bad_magic, c.bad_version, c.bad_scenario,
      c.bad_params, c.bad_authenticator, c.unknown_run, c.expired_run, c.replayed, c.accept_errors);
}

int RunServe(const ServeOptions& options, std::ostream& out, std::ostream& err) {
  if (options.output != "table" && options.output != "json") {
    err << "rstmesh-agent serve: -o: '" << options.output
        << "' is not an output format (table, json)\n";
    return 2;
  }
  // Signals are taken by sigwait() below, never by an io thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::mutex out_mu;
  const bool table = options.output == "table";
  DataPlane plane(options.threads);
  absl::Status started = plane.StartResponder(options.responder, [&](v1::Observation obs) {
    std::lock_guard<std::mutex> lock(out_mu);
    out << (table ? ObservationTableRow(obs) : ObservationJson(obs)) << "\n" << std::flush;
  });
  if (!started.ok()) {
    err << "rstmesh-agent serve: " << started.message() << "\n";
    return 2;
  }
  Responder& responder = *plane.responder();
  {
    std::lock_guard<std::mutex> lock(out_mu);
    out << "serving data=" << FormatEndpoint(responder.data_endpoint())
        << " closed=" << FormatEndpoint(responder.closed_endpoint())
        << " tcp_repair=" << (responder.tcp_repair() ? "yes" : "no")
        << " max_connections=" << options.responder.max_connections << "\n";
    if (table) out << ObservationTableHeader() << "\n";
    out << std::flush;
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  responder.Stop();
  plane.Stop();
  std::lock_guard<std::mutex> lock(out_mu);
  out << "stopped (" << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
      << "): " << FormatCounters(responder.counters()) << "\n"
      << std::flush;
  return 0;
}

}  // namespace rstmesh
