// The initiator role of one task: connect to a peer agent's data port, send the test
// header, play the scenario's initiator role, and report what this end observed.
#pragma once

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>

#include "core/run_keys.h"
#include "core/scenario.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

struct Task {
  uint64_t task_id = 0;
  v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
  asio::ip::tcp::endpoint peer;  // the responder's data port
  uint16_t closed_port = 0;      // the responder's port held closed; 0 means peer port + 1
  std::optional<asio::ip::address> source;  // bind the test connection to this address
  v1::ScenarioParams params;                // zero fields take the scenario's defaults
  Timeouts timeouts;
  std::optional<RunKey> key;  // signs the header; none: unsigned (an unauthenticated peer)
};

// Runs the task to its end; every step has a deadline, so it always completes. A task that
// cannot run (unknown scenario, bad parameters) yields a LOCAL_ERROR observation.
asio::awaitable<v1::Observation> RunInitiator(Task task);

}  // namespace rstmesh
