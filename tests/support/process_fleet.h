// ProcessFleet: the product as an operator runs it, for tests: rstmesh-controller and
// rstmesh-agent as real processes on loopback (plaintext, or mutual TLS after UseTls),
// driven by rstmeshctl. Agent i is `node-i` on 127.0.0.(30+i). Everything lives in a
// temporary directory that goes with the fleet; every process it started is ended by its pid.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/subprocess.h"

namespace rstmesh::testing {

class ProcessFleet {
 public:
  ProcessFleet();
  ~ProcessFleet();
  ProcessFleet(const ProcessFleet&) = delete;
  ProcessFleet& operator=(const ProcessFleet&) = delete;

  // From now on the controller, the agents and rstmeshctl use mutual TLS with certificates
  // under `certs` (as scripts/make-certs.sh makes them: ca.pem, controller.*, agent-node-i.*,
  // operator-alice.*) instead of --insecure.
  void UseTls(std::string certs) { certs_ = std::move(certs); }
  // From now on the controller's store is this PostgreSQL database (--store) instead of
  // SQLite in data_dir().
  void UseStore(std::string dsn) { store_ = std::move(dsn); }
  // The flags for certificate `name` ("agent-node-1") under `certs`.
  static std::vector<std::string> Creds(const std::string& certs, const std::string& name);

  // Starts the controller (--insecure or UseTls's), its store in data_dir() (or UseStore's),
  // metrics on a free port (health too, with --health-listen in `extra`), plus `extra` flags.
  // `listen` "127.0.0.1:0" picks a port; pass address() to restart on the same one. Fails when it
  // does not print its "serving" line.
  ::testing::AssertionResult StartController(std::vector<std::string> extra = {},
                                             std::string listen = "127.0.0.1:0");
  // Ends the controller with `signal` and waits for it; its exit code.
  int StopController(int signal = SIGTERM);
  Subprocess& controller() { return *controller_; }

  // Replicated controllers on UseStore's database: replica r (r >= 1, named "r<r>") with
  // --replicated and `extra`; started again, it listens where it did. Fails when it does not
  // print its "serving" line.
  ::testing::AssertionResult StartReplica(int r, std::vector<std::string> extra = {});
  // Ends replica r with `signal`, waits, and returns its exit code.
  int StopReplica(int r, int signal = SIGTERM);
  Subprocess& replica(int r) { return *replicas_.at(r); }
  const std::string& replica_address(int r) const { return replica_addresses_.at(r); }
  // Every replica's address as one gRPC target, starting with replica `first`: an agent
  // dials the first that answers ("ipv4:127.0.0.1:P1,127.0.0.1:P2,...").
  std::string ReplicaTarget(int first) const;
  // rstmeshctl against replica r.
  RunResult CtlAt(int r, std::vector<std::string> args,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Agent `i` (node-i) in `zone`, dialling `via` (default: the controller's address).
  ::testing::AssertionResult StartAgent(int i, const std::string& zone = "a",
                                        std::vector<std::string> extra = {},
                                        const std::string& via = "");
  // Agent `i` under another id, with these credential flags (and whatever else) instead of
  // the fleet's: impostors, expired certificates. Succeeds once it printed its first line.
  ::testing::AssertionResult StartAgentAs(int i, const std::string& id,
                                          std::vector<std::string> flags,
                                          const std::string& via = "");
  // Agent i is started under this command (e.g. setpriv dropping a capability).
  void WrapAgent(int i, std::vector<std::string> prefix) { wrappers_[i] = std::move(prefix); }
  // Ends agent i with `signal`, waits, and returns its exit code (stdout stays readable).
  int StopAgent(int i, int signal = SIGTERM);
  Subprocess& agent(int i) { return *agents_.at(i); }
  // What agent i printed first ("rstmesh-agent: ... data=IP:PORT ..."), and its data port.
  const std::string& first_line(int i) const { return first_lines_.at(i); }
  int data_port(int i) const;
  // The responder's count of tests it answered, from the counters an agent prints when it
  // stops (-1 when absent).
  static long Completed(const Subprocess& agent);

  // Waits until `n` agents are connected.
  bool WaitForAgents(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // rstmeshctl against the controller (as operator alice under UseTls).
  RunResult Ctl(std::vector<std::string> args,
                std::chrono::milliseconds timeout = std::chrono::seconds(180));
  // The same with these credential flags instead of the fleet's.
  RunResult CtlAs(std::vector<std::string> credentials, std::vector<std::string> args,
                  std::chrono::milliseconds timeout = std::chrono::seconds(180));
  // Writes a plan file into the fleet's directory; its path.
  std::string WritePlan(const std::string& name, const std::string& text);

  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/data"; }
  const std::string& address() const { return address_; }
  int metrics_port() const { return metrics_port_; }
  int health_port() const { return health_port_; }  // 0 without --health-listen
  static std::string Id(int i) { return "node-" + std::to_string(i); }
  static std::string Address(int i) { return "127.0.0." + std::to_string(30 + i); }

 private:
  std::string dir_;
  std::string address_;
  int metrics_port_ = 0;
  int health_port_ = 0;
  std::string certs_;  // "" : plaintext
  std::string store_;  // "" : SQLite in data_dir()
  std::unique_ptr<Subprocess> controller_;
  std::map<int, std::unique_ptr<Subprocess>> replicas_;
  std::map<int, std::string> replica_addresses_;
  std::map<int, std::unique_ptr<Subprocess>> agents_;
  std::map<int, std::string> first_lines_;
  std::map<int, std::vector<std::string>> wrappers_;
};

}  // namespace rstmesh::testing
