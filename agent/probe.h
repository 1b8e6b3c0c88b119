// `rstmesh-agent probe`: runs scenarios from this host against one peer agent's responder,
// without a controller, and prints each observation and a summary of expected vs observed.
// For an engineer debugging one path.
#pragma once

#include "core/run_keys.h"

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "core/scenario.h"

namespace rstmesh {

struct ProbeOptions {
  std::string peer;                              // HOST[:PORT]
  uint16_t closed_port = 0;                      // 0: the peer's data port + 1
  std::vector<std::string> scenarios = {"all"};  // names, codes (S3) or "all"
  int count = 1;                                 // repetitions of each scenario
  int parallel = 1;                              // tasks in flight at once
  std::string output = "table";                  // table | json
  std::string source;                            // bind test connections to this address
  v1::ScenarioParams params;                     // overrides; zero keeps each scenario's default
  Timeouts timeouts;
  std::optional<RunKey> key;  // signs test headers (the peer's `serve --key-file`); none: unsigned
};

inline constexpr int kExitMatched = 0;
inline constexpr int kExitDeviated = 1;
inline constexpr int kExitUsage = 2;

// Runs the probe; returns the exit code: 0 all matched (UNSUPPORTED ones are listed, not
// counted as deviations), 1 some deviated, 2 bad options (explained on `err`).
int RunProbe(const ProbeOptions& options, std::ostream& out, std::ostream& err);

}  // namespace rstmesh
