// rstmesh-agent as an operator runs it: `serve` in one process, `probe` in another, over
// loopback (127.0.0.1 -> 127.0.0.2). Exit codes, output formats and usage errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/socket_look.h"
#include "tests/support/subprocess.h"
#include "tests/support/text.h"

namespace rstmesh {
namespace {

using std::chrono::seconds;
using testing::Count;
using testing::RunProcess;
using testing::Subprocess;

const std::string kAgent = RSTMESH_AGENT_BIN;

class AgentCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The key serve and probe share (as `openssl rand -hex 32` would make it).
    key_file_ = absl::StrCat("/tmp/rstmesh-agent-cli-key-", getpid());
    std::ofstream(key_file_)
        << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    serve_ = std::make_unique<Subprocess>(
        std::vector<std::string>{kAgent, "serve", "--listen", "127.0.0.2", "--port", "0",
                                 "--closed-port", "0", "-o", "json", "--key-file", key_file_});
    ASSERT_TRUE(serve_->started());
    std::optional<std::string> first = serve_->ReadLine(seconds(10));
    ASSERT_TRUE(first.has_value()) << serve_->err();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        *first, m, std::regex(R"(data=127\.0\.0\.2:(\d+) closed=127\.0\.0\.2:(\d+))")))
        << *first;
    data_port_ = m[1];
    closed_port_ = m[2];
    peer_ = "127.0.0.2:" + data_port_;
  }

  void TearDown() override {
    if (serve_ != nullptr && serve_->started()) {
      serve_->Signal(SIGTERM);
      serve_->Wait(seconds(10));
    }
    std::remove(key_file_.c_str());
  }

  std::vector<std::string> Probe(std::vector<std::string> extra) {
    std::vector<std::string> argv = {kAgent,     "probe",     "--peer",        peer_,
                                     "--source", "127.0.0.1", "--closed-port", closed_port_};
    if (std::find(extra.begin(), extra.end(), "--insecure") == extra.end() &&
        std::find(extra.begin(), extra.end(), "--key-file") == extra.end()) {
      argv.insert(argv.end(), {"--key-file", key_file_});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  std::unique_ptr<Subprocess> serve_;
  std::string data_port_, closed_port_, peer_, key_file_;
};

TEST_F(AgentCliTest, ProbeOfEveryScenarioMatchesAndServeReportsItsSide) {
  auto result = RunProcess(Probe({"--scenario", "all", "--count", "3", "--idle-ms", "200"}));
  const bool repair = TcpRepairPermitted();
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find(absl::StrCat("27 runs against ", peer_, ": ", repair ? 27 : 24,
                                         " matched, 0 deviated, ", repair ? 0 : 3, " unsupported")),
            std::string::npos)
      << result.out;
  EXPECT_EQ(Count(result.out, " initiator "), 27u);

  // serve printed one JSON observation per responder-side test (refused never reaches it)
  // and, on SIGTERM, its counters.
  serve_->Signal(SIGTERM);
  EXPECT_EQ(serve_->Wait(seconds(10)), 0) << serve_->err();
  EXPECT_EQ(Count(serve_->out(), R"("role":"ROLE_RESPONDER")"), 24u) << serve_->out();
  EXPECT_NE(serve_->out().find("stopped (SIGTERM): accepted=24 completed=24 active=0"),
            std::string::npos)
      << serve_->out();
  serve_.reset();
}

TEST_F(AgentCliTest, ProbeJsonOutput) {
  auto result =
      RunProcess(Probe({"--scenario", "graceful_close,S3", "--count", "2", "-o", "json"}));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.rfind(absl::StrCat(R"({"peer":")", peer_,
                                          R"(","runs":4,"matched":4,)"
                                          R"("deviated":0,"unsupported":0,)"),
                             0),
            0u)
      << result.out;
  EXPECT_EQ(Count(result.out, R"("task_id")"), 4u);
  EXPECT_EQ(Count(result.out, R"("observed":"CLOSURE_RST")"), 2u);
  EXPECT_EQ(Count(result.out, R"("error_name":"ECONNRESET")"), 2u);
}

TEST_F(AgentCliTest, DeviationExitsOne) {
  // A "closed" port that listens: refused cannot be met, so the probe reports a deviation.
  auto result = RunProcess({kAgent, "probe", "--peer", peer_, "--closed-port", data_port_,
                            "--scenario", "refused", "--key-file", key_file_});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("DEVIATION: observed NONE, expected REFUSED"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("1 deviated"), std::string::npos);
}

TEST_F(AgentCliTest, UnsignedOrWronglySignedHeadersAreNotActedOn) {
  const std::string other = key_file_ + "-other";
  std::ofstream(other) << std::string(64, 'f');
  for (std::vector<std::string> how :
       {std::vector<std::string>{"--insecure"}, std::vector<std::string>{"--key-file", other}}) {
    std::vector<std::string> args = {"--scenario", "graceful_close"};
    args.insert(args.end(), how.begin(), how.end());
    auto result = RunProcess(Probe(args));
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    EXPECT_NE(result.out.find("1 deviated"), std::string::npos) << result.out;
  }
  std::remove(other.c_str());
  serve_->Signal(SIGTERM);
  EXPECT_EQ(serve_->Wait(seconds(10)), 0);
  EXPECT_NE(serve_->out().find("completed=0"), std::string::npos) << serve_->out();
  EXPECT_NE(serve_->out().find("bad_authenticator=2"), std::string::npos) << serve_->out();
  serve_.reset();
}

TEST_F(AgentCliTest, UsageErrorsExitTwoAndNameTheProblem) {
  struct UsageCase {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<UsageCase> cases = {
      {{}, "a command is required"},
      {{"probe"}, "--peer"},
      {{"probe", "--peer", peer_, "--scenario", "nope"}, "--scenario: unknown scenario 'nope'"},
      {{"probe", "--peer", peer_, "--count", "0"}, "--count: 0 is out of range"},
      {{"probe", "--peer", peer_, "--count", "abc"}, "count"},
      {{"probe", "--peer", "127.0.0.2:99999"}, "port must be a number from 1 to 65535"},
      {{"probe", "--peer", "[::1"}, "missing ']'"},
      {{"probe", "--peer", peer_, "-o", "xml"}, "'xml' is not an output format"},
      {{"probe", "--peer", peer_, "--scenario", "S9", "--request-bytes", "1000", "--read-limit",
        "5000"},
       "params.read_limit"},
      {{"probe", "--peer", peer_, "--request-bytes", "999999999"}, "params.request_bytes"},
      {{"probe", "--peer", peer_, "--source", "not-an-ip"}, "--source"},
      {{"serve", "--listen", "nope"}, "--listen"},
      {{"serve", "--listen", "127.0.0.2", "--port", "0"}, "--key-file is required"},
      {{"probe", "--peer", peer_}, "--key-file is required"},
      {{"probe", "--peer", peer_, "--key-file", "/nonexistent"}, "cannot read '/nonexistent'"},
      {{"probe", "--peer", peer_, "--insecure", "--key-file", key_file_}, "exclude each other"},
      {{"serve", "--port", "99999"}, "port"},
      {{"bogus"}, "unknown command 'bogus'"},
  };
  for (const UsageCase& c : cases) {
    std::vector<std::string> argv = {kAgent};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    // Cases about other flags run unsigned, so that the key is not what they trip on.
    if (c.args.size() > 1 && c.args[0] == "probe" &&
        c.message.find("key-file") == std::string::npos &&
        c.message.find("exclude") == std::string::npos &&
        c.message.find("cannot read") == std::string::npos) {
      argv.push_back("--insecure");
    }
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    auto result = RunProcess(argv, seconds(30));
    EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
    EXPECT_NE(result.err.find(c.message), std::string::npos) << result.err;
  }
}

TEST_F(AgentCliTest, ServeOnAPortInUseExitsTwo) {
  auto result = RunProcess(
      {kAgent, "serve", "--listen", "127.0.0.2", "--port", data_port_, "--insecure"}, seconds(30));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("cannot listen on 127.0.0.2:" + data_port_), std::string::npos)
      << result.err;
}

TEST_F(AgentCliTest, HelpExitsZero) {
  auto result = RunProcess({kAgent, "probe", "--help"}, seconds(30));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("--scenario"), std::string::npos);
}

}  // namespace
}  // namespace rstmesh
