#include "tests/support/process_fleet.h"

#include <algorithm>

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/numbers.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh::testing {

ProcessFleet::ProcessFleet() {
  char tmpl[] = "/tmp/rstmesh-fleet-XXXXXX";
  dir_ = mkdtemp(tmpl);
}

ProcessFleet::~ProcessFleet() {
  for (auto& [i, agent] : agents_) {
    agent->Signal(SIGTERM);
    agent->Wait(std::chrono::seconds(10));
  }
  agents_.clear();
  for (auto& [r, replica] : replicas_) {
    replica->Signal(SIGTERM);
    replica->Wait(std::chrono::seconds(15));
  }
  if (controller_) StopController();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

::testing::AssertionResult ProcessFleet::StartController(std::vector<std::string> extra,
                                                         std::string listen) {
  std::vector<std::string> argv = {RSTMESH_CONTROLLER_BIN, "--listen", listen,
                                   "--data-dir",           data_dir(), "--metrics-listen",
                                   "127.0.0.1:0"};
  const std::vector<std::string> security =
      certs_.empty() ? std::vector<std::string>{"--insecure"} : Creds(certs_, "controller");
  argv.insert(argv.end(), security.begin(), security.end());
  if (!store_.empty()) argv.insert(argv.end(), {"--store", store_});
  argv.insert(argv.end(), extra.begin(), extra.end());
  controller_ = std::make_unique<Subprocess>(argv);
  auto line = controller_->ReadLine(std::chrono::seconds(15));
  if (!line) {
    controller_->Wait(std::chrono::seconds(5));
    return ::testing::AssertionFailure() << "controller did not start: " << controller_->err();
  }
  std::smatch m;
  if (!std::regex_search(*line, m, std::regex(R"(grpc=(\d+) metrics=(\d+))"))) {
    return ::testing::AssertionFailure() << "unexpected first line: " << *line;
  }
  address_ = "127.0.0.1:" + m[1].str();
  metrics_port_ = std::stoi(m[2]);
  health_port_ = std::regex_search(*line, m, std::regex(R"(health=(\d+))")) ? std::stoi(m[1]) : 0;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ProcessFleet::StartReplica(int r, std::vector<std::string> extra) {
  auto known = replica_addresses_.find(r);
  std::vector<std::string> argv = {
      RSTMESH_CONTROLLER_BIN,
      "--listen",
      known != replica_addresses_.end() ? known->second : "127.0.0.1:0",
      "--metrics-listen",
      "127.0.0.1:0",
      "--store",
      store_,
      "--replicated",
      "--replica-name",
      "r" + std::to_string(r)};
  const std::vector<std::string> security =
      certs_.empty() ? std::vector<std::string>{"--insecure"} : Creds(certs_, "controller");
  argv.insert(argv.end(), security.begin(), security.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto replica = std::make_unique<Subprocess>(argv);
  auto line = replica->ReadLine(std::chrono::seconds(20));
  Subprocess* started = replica.get();
  replicas_[r] = std::move(replica);
  if (!line) {
    started->Wait(std::chrono::seconds(5));
    return ::testing::AssertionFailure()
           << "replica r" << r << " did not start: " << started->err();
  }
  std::smatch m;
  if (!std::regex_search(*line, m, std::regex(R"(grpc=(\d+) )"))) {
    return ::testing::AssertionFailure() << "unexpected first line: " << *line;
  }
  replica_addresses_[r] = "127.0.0.1:" + m[1].str();
  return ::testing::AssertionSuccess();
}

int ProcessFleet::StopReplica(int r, int signal) {
  Subprocess& replica = *replicas_.at(r);
  replica.Signal(signal);
  return replica.Wait(std::chrono::seconds(15));
}

std::string ProcessFleet::ReplicaTarget(int first) const {
  std::string target = "ipv4:";
  auto start = replica_addresses_.lower_bound(first);
  for (auto it = start; it != replica_addresses_.end(); ++it) {
    target += (target.size() > 5 ? "," : "") + it->second;
  }
  for (auto it = replica_addresses_.begin(); it != start; ++it) target += "," + it->second;
  return target;
}

RunResult ProcessFleet::CtlAt(int r, std::vector<std::string> args,
                              std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {RSTMESH_CTL_BIN, "--controller", replica_address(r)};
  const std::vector<std::string> credentials =
      certs_.empty() ? std::vector<std::string>{"--insecure"} : Creds(certs_, "operator-alice");
  argv.insert(argv.end(), credentials.begin(), credentials.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, timeout);
}

int ProcessFleet::StopController(int signal) {
  if (!controller_) return -1;
  controller_->Signal(signal);
  const int code = controller_->Wait(std::chrono::seconds(15));
  return code;
}

std::vector<std::string> ProcessFleet::Creds(const std::string& certs, const std::string& name) {
  return {"--tls-ca",  certs + "/ca.pem",          "--tls-cert", certs + "/" + name + ".pem",
          "--tls-key", certs + "/" + name + ".key"};
}

::testing::AssertionResult ProcessFleet::StartAgent(int i, const std::string& zone,
                                                    std::vector<std::string> extra,
                                                    const std::string& via) {
  std::vector<std::string> flags =
      certs_.empty() ? std::vector<std::string>{"--insecure"} : Creds(certs_, "agent-" + Id(i));
  flags.insert(flags.end(), {"--labels", "zone=" + zone});
  flags.insert(flags.end(), extra.begin(), extra.end());
  return StartAgentAs(i, Id(i), std::move(flags), via);
}

::testing::AssertionResult ProcessFleet::StartAgentAs(int i, const std::string& id,
                                                      std::vector<std::string> flags,
                                                      const std::string& via) {
  std::vector<std::string> argv = {RSTMESH_AGENT_BIN,
                                   "run",
                                   "--controller",
                                   via.empty() ? address_ : via,
                                   "--id",
                                   id,
                                   "--listen",
                                   Address(i),
                                   "--port",
                                   "0",
                                   "--closed-port",
                                   "0"};
  // Packet capture (on every interface of this machine) only where a test asks for it.
  if (std::none_of(flags.begin(), flags.end(),
                   [](const std::string& f) { return f.rfind("--capture-packets", 0) == 0; })) {
    argv.push_back("--capture-packets=off");
  }
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (auto wrapper = wrappers_.find(i); wrapper != wrappers_.end()) {
    argv.insert(argv.begin(), wrapper->second.begin(), wrapper->second.end());
  }
  auto agent = std::make_unique<Subprocess>(argv);
  auto first = agent->ReadLine(std::chrono::seconds(15));
  Subprocess* started = agent.get();
  agents_[i] = std::move(agent);
  if (!first) {
    started->Wait(std::chrono::seconds(5));
    return ::testing::AssertionFailure() << id << " did not start: " << started->err();
  }
  first_lines_[i] = *first;
  return ::testing::AssertionSuccess();
}

int ProcessFleet::data_port(int i) const {
  std::smatch m;
  const std::string& line = first_line(i);
  if (!std::regex_search(line, m, std::regex(R"(data=\S+:(\d+))"))) return 0;
  return std::stoi(m[1]);
}

int ProcessFleet::StopAgent(int i, int signal) {
  Subprocess& a = *agents_.at(i);
  a.Signal(signal);
  return a.Wait(std::chrono::seconds(15));
}

long ProcessFleet::Completed(const Subprocess& agent) {
  std::smatch m;
  const std::string out = agent.out();
  if (!std::regex_search(out, m, std::regex(R"(completed=(\d+) )"))) return -1;
  return std::stol(m[1]);
}

bool ProcessFleet::WaitForAgents(size_t n, std::chrono::milliseconds timeout) {
  return WaitFor(
      [&] {
        RunResult r = Ctl({"agents", "-o", "json"});
        return Count(r.out, "\"data_endpoint\"") == n && Count(r.out, "\"connected\": true") == n;
      },
      timeout, std::chrono::milliseconds(200));
}

RunResult ProcessFleet::Ctl(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  return CtlAs(
      certs_.empty() ? std::vector<std::string>{"--insecure"} : Creds(certs_, "operator-alice"),
      std::move(args), timeout);
}

RunResult ProcessFleet::CtlAs(std::vector<std::string> credentials, std::vector<std::string> args,
                              std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {RSTMESH_CTL_BIN, "--controller", address_};
  argv.insert(argv.end(), credentials.begin(), credentials.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, timeout);
}

std::string ProcessFleet::WritePlan(const std::string& name, const std::string& text) {
  const std::string path = dir_ + "/" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace rstmesh::testing
