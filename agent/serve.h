// `rstmesh-agent serve`: runs the responder alone, printing each responder observation,
// until SIGINT or SIGTERM; then prints its counters.
#pragma once

#include <iosfwd>
#include <string>

#include "agent/responder.h"

namespace rstmesh {

struct ServeOptions {
  ResponderOptions responder;
  std::string output = "table";  // table | json
  int threads = 1;
};

// The first line on `out` says where it listens:
//   serving data=127.0.0.2:7402 closed=127.0.0.2:7403 tcp_repair=yes max_connections=4096
// Returns 0 after a signal, 2 on bad options or when a port cannot be bound.
int RunServe(const ServeOptions& options, std::ostream& out, std::ostream& err);

// "accepted=.. completed=.. active=.. ..." for logs and the shutdown line.
std::string FormatCounters(const ResponderCounters& c);

}  // namespace rstmesh
