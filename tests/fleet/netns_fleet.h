// NetnsFleet: a fleet of rstmesh hosts built from Linux network namespaces, for tests that
// need a real network between agents. Each zone is a bridge in a router namespace; the
// router routes between zones (its forward chain is where path profiles go); the controller
// has a namespace and zone of its own. Addresses come from 198.18.0.0/15 (the benchmarking
// range) and exist only inside the namespaces made here. Everything is removed by the
// destructor, and namespaces left by an earlier, interrupted run are removed at start.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/support/subprocess.h"

namespace rstmesh::testing {

class NetnsFleet {
 public:
  struct Host {
    std::string id;       // agent id, "z1-h2"
    std::string zone;     // "z1"
    std::string netns;    // namespace name
    std::string address;  // 198.18.Z.H
  };

  // `hosts_per_zone[k]` hosts in zone k+1.
  NetnsFleet(std::vector<int> hosts_per_zone, std::string controller_bin, std::string agent_bin);
  ~NetnsFleet();

  // Why the fleet cannot be built here (not root, no `ip netns`), or OK.
  static absl::Status Available();

  // Builds the namespaces and links, starts the controller and one agent per host, and waits
  // until every agent is registered.
  absl::Status Start();

  // Runs a command inside the router namespace (for nft rules).
  absl::Status InRouter(const std::string& command);
  // Starts a long-running program in the router namespace (a middlebox); it is killed at
  // teardown. Waits for its first line of output.
  absl::Status StartInRouter(std::vector<std::string> argv);

  // The host "reboots": its agent is killed, its namespace deleted and made again with the
  // same address, and a fresh agent started there. Connections it had are gone silently.
  absl::Status RebootHost(size_t index);

  // kill -9 the controller and start it again on the same data directory and address.
  absl::Status KillAndRestartController();

  const std::vector<Host>& hosts() const { return hosts_; }
  std::string controller_address() const { return "198.18.0.10:" + std::to_string(grpc_port_); }
  // Runs rstmeshctl inside the controller's namespace.
  RunResult Ctl(const std::string& ctl_bin, std::vector<std::string> args,
                std::chrono::milliseconds timeout = std::chrono::seconds(300));

 private:
  absl::Status Sh(const std::string& command);
  absl::Status AddNamespace(const std::string& name);
  absl::Status Attach(const std::string& ns, size_t zone, const std::string& address, int index);
  absl::Status StartAgent(size_t index);
  absl::Status StartController();
  std::string tag_;
  std::string router_, controller_ns_;
  std::vector<int> zones_;
  std::vector<Host> hosts_;
  std::vector<std::string> namespaces_;
  std::string controller_bin_, agent_bin_, data_dir_;
  int grpc_port_ = 7400;
  std::unique_ptr<Subprocess> controller_;
  std::vector<std::unique_ptr<Subprocess>> agents_;
  std::vector<std::unique_ptr<Subprocess>> middleboxes_;
};

}  // namespace rstmesh::testing
