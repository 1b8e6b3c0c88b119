// NetnsFleet: a fleet of rstmesh hosts built from Linux network namespaces, for tests that
// need a real network between agents. Each zone is a bridge in a router namespace; the
// router routes between zones (its forward chain is where path profiles go); the controller
// has a namespace and zone of its own. Every namespace is dual-stack: IPv4 from
// 198.18.0.0/15 (the benchmarking range) and IPv6 from fd52:7374::/32 (unique local); the
// agents test each other over one family, the controller is reached over IPv4. Addresses
// exist only inside the namespaces made here. Everything is removed by the
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
    int number = 0;       // H: its place in the zone, from 1
    std::string address;  // 198.18.Z.H, or fd52:7374:Z::H on an IPv6 fleet: what agents dial
  };

  enum class Family { kIPv4, kIPv6 };

  // `hosts_per_zone[k]` hosts in zone k+1; the agents' data plane over `family`.
  NetnsFleet(std::vector<int> hosts_per_zone, std::string controller_bin, std::string agent_bin,
             Family family = Family::kIPv4);
  ~NetnsFleet();

  // Why the fleet cannot be built here (not root, no `ip netns`), or OK.
  static absl::Status Available();

  // Builds the namespaces and links, starts the controller and one agent per host, and waits
  // until every agent is registered.
  absl::Status Start();

  // Runs a command inside the router namespace (for nft rules).
  absl::Status InRouter(const std::string& command);
  // Runs a command inside one host's namespace (a host firewall).
  absl::Status InHost(size_t index, const std::string& command);
  // Sends a signal to one host's agent (SIGSTOP / SIGCONT: a hung host).
  void SignalAgent(size_t index, int signal);
  // The index of the host with this agent id.
  size_t HostIndex(const std::string& id) const;
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
  // Wires `ns` into `zone` as host `number` (198.18.zone.10+number, fd52:7374:zone::10+number)
  // through the router's veth `v<index>`.
  absl::Status Attach(const std::string& ns, size_t zone, int number, int index);
  absl::Status StartAgent(size_t index);
  absl::Status StartController();
  std::string tag_;
  std::string router_, controller_ns_;
  std::vector<int> zones_;
  Family family_;
  std::vector<Host> hosts_;
  std::vector<std::string> namespaces_;
  std::string controller_bin_, agent_bin_, data_dir_;
  int grpc_port_ = 7400;
  std::unique_ptr<Subprocess> controller_;
  std::vector<std::unique_ptr<Subprocess>> agents_;
  std::vector<std::unique_ptr<Subprocess>> middleboxes_;
};

}  // namespace rstmesh::testing
