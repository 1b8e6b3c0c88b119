// Mutual TLS between real processes: certificates made by scripts/make-certs.sh (openssl).
// Valid agents and operators connect and run an audit; no certificate, a certificate from
// another CA, an expired one, an agent registering under someone else's id, and an agent
// certificate used for operator calls are all refused. The plaintext health port answers
// Kubernetes-style probes without a certificate.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "tests/support/grpc_health.h"
#include "tests/support/process_fleet.h"
#include "tests/support/subprocess.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Count;
using testing::ProcessFleet;
using testing::RunProcess;
using testing::RunResult;
using testing::Subprocess;
using testing::WaitFor;

const std::string kController = RSTMESH_CONTROLLER_BIN;
const std::string kAgent = RSTMESH_AGENT_BIN;
const std::string kCtl = RSTMESH_CTL_BIN;
const std::string kMakeCerts = RSTMESH_SOURCE_DIR "/scripts/make-certs.sh";

using testing::HealthStatus;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = fleet_.dir() + "/certs";
    other_ = fleet_.dir() + "/other";
    ASSERT_EQ(RunProcess({kMakeCerts, certs_, "--agents", "node-1,node-2", "--operators", "alice",
                          "--shared-agent"})
                  .exit_code,
              0);
    ASSERT_EQ(
        RunProcess({kMakeCerts, certs_, "--agents", "stale", "--operators", "bob", "--days", "-1"})
            .exit_code,
        0);
    ASSERT_EQ(
        RunProcess({kMakeCerts, other_, "--agents", "node-1", "--operators", "alice"}).exit_code,
        0);
    fleet_.UseTls(certs_);
    ASSERT_TRUE(fleet_.StartController({"--health-listen", "127.0.0.1:0"}));
    ASSERT_NE(fleet_.controller().out().find("tls=mutual"), std::string::npos);
    ASSERT_NE(fleet_.health_port(), 0);
  }

  static std::vector<std::string> Creds(const std::string& dir, const std::string& name) {
    return ProcessFleet::Creds(dir, name);
  }

  // Agent `n` as `id` with these credential flags, on `fleet` (this test's by default).
  Subprocess& StartAgent(const std::string& id, std::vector<std::string> creds, int n,
                         ProcessFleet* fleet = nullptr) {
    ProcessFleet& on = fleet != nullptr ? *fleet : fleet_;
    EXPECT_TRUE(on.StartAgentAs(n, id, std::move(creds)));
    return on.agent(n);
  }

  // rstmeshctl with these credentials, giving up on an unreachable controller after 5 s.
  RunResult Ctl(std::vector<std::string> creds, std::vector<std::string> args,
                ProcessFleet* fleet = nullptr) {
    creds.insert(creds.end(), {"--timeout", "5"});
    return (fleet != nullptr ? *fleet : fleet_).CtlAs(std::move(creds), std::move(args));
  }

  // Pumps the agent's output until its stderr says `text` (the controller's refusal).
  static bool ErrSays(Subprocess& agent, const std::string& text) {
    return WaitFor(
        [&] {
          agent.ReadLine(milliseconds(50));
          return agent.err().find(text) != std::string::npos;
        },
        seconds(20));
  }

  ProcessFleet fleet_;
  std::string certs_, other_;
};

TEST_F(TlsTest, ValidAgentsAndOperatorRunAnAudit) {
  StartAgent("node-1", Creds(certs_, "agent-node-1"), 1);
  std::vector<std::string> node2 = Creds(certs_, "agent-node-2");
  node2.insert(node2.end(), {"--health-listen", "127.0.0.1:0"});
  Subprocess& agent2 = StartAgent("node-2", node2, 2);
  const auto alice = Creds(certs_, "operator-alice");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(Ctl(alice, {"agents", "-o", "json"}).out, "\"data_endpoint\"") == 2;
      },
      seconds(20)));
  std::string plan = fleet_.dir() + "/plan.yaml";
  std::ofstream(plan) << "pattern: {kind: full_mesh}\nscenarios: [{name: graceful_close}, "
                         "{name: abortive_close}]\n";
  auto run = Ctl(alice, {"run", "-f", plan, "--wait"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("4/4 tasks: 4 pass"), std::string::npos) << run.out;
  // Kubernetes probes: plaintext, no certificate, on the health ports only.
  EXPECT_EQ(HealthStatus(fleet_.health_port()), 1);
  std::smatch m;
  const std::string first_line = agent2.out();
  ASSERT_TRUE(std::regex_search(first_line, m, std::regex(R"(health=(\d+) .*tls=mutual)")))
      << first_line;
  EXPECT_EQ(HealthStatus(std::stoi(m[1])), 1);
}

TEST_F(TlsTest, CallersWithoutAValidOperatorCertificateAreRefused) {
  StartAgent("node-1", Creds(certs_, "agent-node-1"), 1);
  const auto alice = Creds(certs_, "operator-alice");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(Ctl(alice, {"agents", "-o", "json"}).out, "\"data_endpoint\"") == 1;
      },
      seconds(20)));

  auto plaintext = Ctl({"--insecure"}, {"agents"});
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.err;
  EXPECT_NE(plaintext.err.find("If it runs with mutual TLS"), std::string::npos) << plaintext.err;

  auto wrong_ca = Ctl(Creds(other_, "operator-alice"), {"agents"});
  EXPECT_EQ(wrong_ca.exit_code, 3) << wrong_ca.err;
  EXPECT_EQ(wrong_ca.out, "");

  auto expired = Ctl(Creds(certs_, "operator-bob"), {"agents"});
  EXPECT_EQ(expired.exit_code, 3) << expired.err;
  EXPECT_EQ(expired.out, "");

  // A valid agent certificate cannot drive the controller: no run starts.
  std::string plan = fleet_.dir() + "/plan.yaml";
  std::ofstream(plan) << "pattern: {kind: full_mesh}\nscenarios: [{name: graceful_close}]\n";
  for (std::vector<std::string> args : {std::vector<std::string>{"agents"},
                                        {"runs"},
                                        {"run", "-f", plan},
                                        {"watch", "run-1"},
                                        {"export", "run-1"}}) {
    auto as_agent = Ctl(Creds(certs_, "agent-node-1"), args);
    EXPECT_EQ(as_agent.exit_code, 2) << args[0] << ": " << as_agent.err;
    EXPECT_NE(as_agent.err.find("Control needs an operator certificate (CN operator:<name>); the "
                                "caller holds agent certificate 'agent:node-1'"),
              std::string::npos)
        << as_agent.err;
  }
  EXPECT_NE(Ctl(alice, {"runs"}).out.find("no runs yet"), std::string::npos);

  // Flags: certificates or --insecure, not neither, not both.
  auto neither = RunProcess({kCtl, "--controller", fleet_.address(), "agents"});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_NE(neither.err.find("--tls-ca, --tls-cert and --tls-key are required"), std::string::npos);
  std::vector<std::string> both = {kCtl, "--controller", fleet_.address(), "--insecure"};
  for (const std::string& f : Creds(certs_, "operator-alice")) both.push_back(f);
  both.push_back("agents");
  EXPECT_EQ(RunProcess(both).exit_code, 2);
}

TEST_F(TlsTest, AgentsMustPresentTheirOwnValidCertificate) {
  const auto alice = Creds(certs_, "operator-alice");
  // node-2 with node-1's certificate: refused by identity.
  Subprocess& impostor = StartAgent("node-2", Creds(certs_, "agent-node-1"), 2);
  EXPECT_TRUE(ErrSays(impostor,
                      "PERMISSION_DENIED: agent 'node-2' must present the certificate "
                      "'agent:node-2'; the caller holds agent certificate "
                      "'agent:node-1'"))
      << impostor.err();
  // An operator's certificate cannot register an agent either.
  Subprocess& operator_as_agent = StartAgent("alice", Creds(certs_, "operator-alice"), 3);
  EXPECT_TRUE(ErrSays(operator_as_agent, "PERMISSION_DENIED")) << operator_as_agent.err();
  // Expired, another CA, no certificate: the handshake fails.
  Subprocess& stale = StartAgent("stale", Creds(certs_, "agent-stale"), 4);
  Subprocess& foreign = StartAgent("node-1", Creds(other_, "agent-node-1"), 5);
  Subprocess& plain = StartAgent("node-1", {"--insecure"}, 6);
  for (Subprocess* refused : {&stale, &foreign, &plain}) {
    EXPECT_TRUE(ErrSays(*refused, "UNAVAILABLE")) << refused->err();
  }
  // Only now a real node-1 joins; it is the only agent the controller knows.
  StartAgent("node-1", Creds(certs_, "agent-node-1"), 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(Ctl(alice, {"agents", "-o", "json"}).out, "\"data_endpoint\"") == 1;
      },
      seconds(20)));
  auto agents = Ctl(alice, {"agents"});
  EXPECT_NE(agents.out.find("node-1"), std::string::npos);
  EXPECT_EQ(agents.out.find("node-2"), std::string::npos);
  EXPECT_EQ(agents.out.find("stale"), std::string::npos);
  EXPECT_EQ(agents.out.find("alice"), std::string::npos);
}

// The shared agent certificate (CN agent:*, one Secret for a whole DaemonSet) registers any
// agent id only where the controller allows it, and never drives the controller.
TEST_F(TlsTest, SharedAgentCertificateOnlyWhereAllowed) {
  const auto shared = Creds(certs_, "agent-shared");
  Subprocess& refused = StartAgent("node-7", shared, 7);
  EXPECT_TRUE(ErrSays(refused,
                      "PERMISSION_DENIED: agent 'node-7' holds the shared agent certificate "
                      "'agent:*', which this controller accepts only with "
                      "--allow-shared-agent-certificate"))
      << refused.err();

  // A second controller that allows it.
  ProcessFleet allowing;
  allowing.UseTls(certs_);
  ASSERT_TRUE(allowing.StartController({"--allow-shared-agent-certificate"}));
  ProcessFleet* fleet = &allowing;
  EXPECT_NE(allowing.controller().out().find("tls=mutual(shared-agent-certificate)"),
            std::string::npos)
      << allowing.controller().out();
  StartAgent("node-a", shared, 8, fleet);
  StartAgent("node-b", shared, 9, fleet);
  // Per-agent certificates are still held to their own id there.
  Subprocess& impostor = StartAgent("node-c", Creds(certs_, "agent-node-1"), 10, fleet);
  EXPECT_TRUE(ErrSays(impostor, "must present the certificate 'agent:node-c'")) << impostor.err();
  const auto alice = Creds(certs_, "operator-alice");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(Ctl(alice, {"agents", "-o", "json"}, fleet).out, "\"data_endpoint\"") == 2;
      },
      seconds(20)));
  std::string plan = fleet_.dir() + "/plan.yaml";
  std::ofstream(plan) << "pattern: {kind: full_mesh}\nscenarios: [{name: abortive_close}]\n";
  auto run = Ctl(alice, {"run", "-f", plan, "--wait"}, fleet);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("2/2 tasks: 2 pass"), std::string::npos) << run.out;
  auto as_operator = Ctl(shared, {"run", "-f", plan}, fleet);
  EXPECT_EQ(as_operator.exit_code, 2) << as_operator.err;
  EXPECT_NE(as_operator.err.find("the caller holds agent certificate 'agent:*'"), std::string::npos)
      << as_operator.err;
  // Meaningless without TLS: refused at start.
  auto insecure =
      RunProcess({kController, "--insecure", "--allow-shared-agent-certificate", "--check-config"});
  EXPECT_EQ(insecure.exit_code, 2);
  EXPECT_NE(insecure.err.find("--allow-shared-agent-certificate needs mutual TLS"),
            std::string::npos)
      << insecure.err;
}

// --check-config: what a deployment passes is checked (flags, environment, certificate
// files) without binding anything, so manifests can be tested against the binaries.
TEST_F(TlsTest, CheckConfigValidatesWithoutStarting) {
  std::vector<std::string> controller = {kController,       "--check-config", "--listen",
                                         fleet_.address(),  // in use by the running controller
                                         "--health-listen", "0.0.0.0:7404"};
  for (const std::string& f : Creds(certs_, "controller")) controller.push_back(f);
  auto ok = RunProcess(controller);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("configuration ok: listen=" + fleet_.address()), std::string::npos)
      << ok.out;
  EXPECT_NE(ok.out.find("tls=mutual"), std::string::npos);

  std::vector<std::string> agent = {kAgent,   "run",         "--check-config", "--id",
                                    "node-1", "--labels",    "zone=a,rack=r1", "--listen",
                                    "::",     "--advertise", "10.0.0.5"};
  for (const std::string& f : Creds(certs_, "agent-node-1")) agent.push_back(f);
  auto agent_ok = RunProcess(agent);
  EXPECT_EQ(agent_ok.exit_code, 0) << agent_ok.err;
  EXPECT_NE(agent_ok.out.find("configuration ok: id=node-1"), std::string::npos) << agent_ok.out;
  EXPECT_NE(agent_ok.out.find("labels=rack=r1,zone=a"), std::string::npos) << agent_ok.out;

  // A key where the certificate should be, a bad label: refused, naming the flag.
  std::vector<std::string> swapped = {kAgent,
                                      "run",
                                      "--check-config",
                                      "--id",
                                      "node-1",
                                      "--tls-ca",
                                      certs_ + "/ca.pem",
                                      "--tls-cert",
                                      certs_ + "/ca.srl",
                                      "--tls-key",
                                      certs_ + "/agent-node-1.key"};
  auto bad = RunProcess(swapped);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--tls-cert: '" + certs_ + "/ca.srl' is not a PEM file"),
            std::string::npos)
      << bad.err;
  std::replace(agent.begin(), agent.end(), std::string("zone=a,rack=r1"), std::string("zone"));
  auto bad_label = RunProcess(agent);
  EXPECT_EQ(bad_label.exit_code, 2);
  EXPECT_NE(bad_label.err.find("--labels: 'zone' is not key=value"), std::string::npos)
      << bad_label.err;
}

TEST(TlsFlagsTest, BinariesDemandCertificatesOrInsecure) {
  auto controller = RunProcess({kController, "--listen", "127.0.0.1:0", "--data-dir", "/tmp/x"});
  EXPECT_EQ(controller.exit_code, 2);
  EXPECT_NE(controller.err.find("--tls-ca, --tls-cert and --tls-key are required"),
            std::string::npos)
      << controller.err;
  auto agent = RunProcess({kAgent, "run", "--id", "x", "--listen", "127.0.0.1"});
  EXPECT_EQ(agent.exit_code, 2);
  EXPECT_NE(agent.err.find("--tls-ca, --tls-cert and --tls-key are required"), std::string::npos);
  auto missing = RunProcess({kController, "--listen", "127.0.0.1:0", "--tls-ca", "/nonexistent",
                             "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--tls-ca: cannot read '/nonexistent'"), std::string::npos)
      << missing.err;
}

}  // namespace
}  // namespace rstmesh
