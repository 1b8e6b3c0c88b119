// The HTTP endpoint behind /metrics and /healthz (telemetry/http_endpoint), on real sockets:
// exact paths, HEAD, methods, oversized headers answered with 431 and a clean close (not a
// reset), keep-alive, and a port another process holds refused at start. Then the agent's
// /metrics as Prometheus reads it: data-port refusals by reason as they happen.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <regex>

#include "absl/strings/str_cat.h"
#include "telemetry/http_endpoint.h"
#include "tests/support/http_get.h"
#include "tests/support/process_fleet.h"
#include "tests/support/raw_client.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::seconds;

// A connection to 127.0.0.1:port that sends raw bytes and reads what comes back.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~Connection() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& bytes) { send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  // Reads until `n` responses are complete (by Content-Length) or the peer closes; `*error`
  // is the errno of a failed read (ECONNRESET for a reset), 0 for a clean end.
  std::string ReadResponses(int n, int* error = nullptr) {
    std::string data;
    char buf[4096];
    for (;;) {
      if (Complete(data) >= n) break;
      ssize_t got = recv(fd_, buf, sizeof(buf), 0);
      if (got <= 0) {
        if (error) *error = got < 0 ? errno : 0;
        break;
      }
      data.append(buf, got);
    }
    return data;
  }
  // Whether the peer then ends the connection with a FIN (not a reset).
  bool ClosedCleanly() {
    char buf[256];
    for (;;) {
      ssize_t got = recv(fd_, buf, sizeof(buf), 0);
      if (got == 0) return true;
      if (got < 0) return false;
    }
  }

 private:
  // Responses complete in `data` (headers and Content-Length bytes of body; HEAD aside).
  static int Complete(const std::string& data) {
    int n = 0;
    size_t at = 0;
    for (;;) {
      size_t end = data.find("\r\n\r\n", at);
      if (end == std::string::npos) return n;
      std::smatch m;
      std::string headers = data.substr(at, end - at);
      size_t length = 0;
      if (std::regex_search(headers, m,
                            std::regex(R"(Content-Length: (\d+))", std::regex::icase))) {
        length = std::stoul(m[1]);
      }
      if (headers.rfind("HEAD", 0) == 0) length = 0;
      if (data.size() < end + 4 + length) return n;
      at = end + 4 + length;
      ++n;
    }
  }
  int fd_ = -1;
  bool connected_ = false;
};

class HttpEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_.Handle("/metrics", [] {
      return HttpEndpoint::Response{200, "text/plain; version=0.0.4", "rstmesh_up 1\n"};
    });
    endpoint_.Handle("/healthz", [] { return HttpEndpoint::Response{200, "text/plain", "ok\n"}; });
    ASSERT_TRUE(endpoint_.Start("127.0.0.1:0").ok());
  }
  HttpEndpoint endpoint_;
};

TEST_F(HttpEndpointTest, ServesExactPathsOnly) {
  const std::string metrics = testing::HttpGet(endpoint_.port(), "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("\r\n\r\nrstmesh_up 1\n"), std::string::npos) << metrics;
  EXPECT_NE(testing::HttpGet(endpoint_.port(), "/metrics?x=1").find(" 200 "), std::string::npos);
  for (const char* path : {"/metricsXYZ", "/metrics/", "/", "/healthzz"}) {
    const std::string r = testing::HttpGet(endpoint_.port(), path);
    EXPECT_EQ(r.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << path << ": " << r;
    EXPECT_NE(r.find("/healthz, /metrics"), std::string::npos) << r;
  }
}

TEST_F(HttpEndpointTest, HeadAnswersLikeGetWithoutTheBodyAndOtherMethodsAre405) {
  Connection c(endpoint_.port());
  ASSERT_TRUE(c.connected());
  c.Send("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string head = c.ReadResponses(1);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Length: 13\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "") << "HEAD carried a body";
  Connection post(endpoint_.port());
  post.Send(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab");
  const std::string refused = post.ReadResponses(1);
  EXPECT_EQ(refused.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << refused;
  EXPECT_NE(refused.find("Allow: GET, HEAD\r\n"), std::string::npos) << refused;
}

TEST_F(HttpEndpointTest, OversizedHeadersGet431AndAFinNotAReset) {
  Connection c(endpoint_.port());
  ASSERT_TRUE(c.connected());
  c.Send(absl::StrCat("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ", std::string(20000, 'a'),
                      "\r\n\r\n"));
  int error = -1;
  const std::string r = c.ReadResponses(1, &error);
  EXPECT_EQ(r.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u)
      << "error " << error << ": " << r.substr(0, 200);
  EXPECT_TRUE(c.ClosedCleanly()) << "the connection was reset";
  // Not HTTP at all: 400, and the endpoint goes on serving.
  Connection junk(endpoint_.port());
  junk.Send("\x16\x03\x01\x02\x00garbage\r\n\r\n");
  EXPECT_EQ(junk.ReadResponses(1).rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
  EXPECT_NE(testing::HttpGet(endpoint_.port(), "/healthz").find("\r\n\r\nok\n"), std::string::npos);
}

TEST_F(HttpEndpointTest, KeepsTheConnectionAliveForTheNextScrape) {
  Connection c(endpoint_.port());
  ASSERT_TRUE(c.connected());
  c.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string both = c.ReadResponses(2);
  EXPECT_NE(both.find("rstmesh_up 1\n"), std::string::npos) << both;
  EXPECT_NE(both.find("\r\n\r\nok\n"), std::string::npos) << both;
}

TEST_F(HttpEndpointTest, APortAnotherListenerHoldsIsRefusedAtStart) {
  HttpEndpoint second;
  absl::Status started = second.Start(absl::StrCat("127.0.0.1:", endpoint_.port()));
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(started.message().find("another process has this port"), std::string::npos)
      << started.message();
  // The first one is untouched.
  EXPECT_NE(testing::HttpGet(endpoint_.port(), "/healthz").find(" 200 "), std::string::npos);
}

TEST(AgentMetricsTest, DataPortRefusalsAndTheControllerSessionShowAsTheyHappen) {
  testing::ProcessFleet fleet;
  ASSERT_TRUE(fleet.StartController());
  ASSERT_TRUE(fleet.StartAgent(1, "a", {"--metrics-listen", "127.0.0.1:0"}));
  ASSERT_TRUE(fleet.WaitForAgents(1));
  std::smatch m;
  const std::string& line = fleet.first_line(1);
  ASSERT_TRUE(std::regex_search(line, m, std::regex(R"(metrics=(\d+))"))) << line;
  const int port = std::stoi(m[1]);
  auto value = [&](const std::string& series) {
    const std::string body = testing::HttpGet(port, "/metrics");
    const size_t at = body.find(series + " ");
    return at == std::string::npos ? -1.0 : std::stod(body.substr(at + series.size() + 1));
  };
  EXPECT_EQ(value("rstmesh_agent_controller_connected"), 1);
  EXPECT_EQ(value("rstmesh_agent_data_port_refusals_total{reason=\"bad_magic\"}"), 0);
  EXPECT_EQ(value("rstmesh_agent_closures_total{scenario=\"graceful_close\",role=\"initiator\","
                  "observed=\"FIN\"}"),
            0);
  // Two connections that send what is not a test header.
  for (int i = 0; i < 2; ++i) {
    testing::RawClient junk(boost::asio::ip::tcp::endpoint(
        boost::asio::ip::make_address(testing::ProcessFleet::Address(1)), fleet.data_port(1)));
    ASSERT_GE(junk.fd(), 0);
    junk.Send(std::vector<uint8_t>(64, 'x'));
    EXPECT_TRUE(junk.WaitClosedByPeer(seconds(5)));
  }
  EXPECT_TRUE(testing::WaitFor(
      [&] { return value("rstmesh_agent_data_port_refusals_total{reason=\"bad_magic\"}") == 2; },
      seconds(5), std::chrono::milliseconds(50)));
  const std::string body = testing::HttpGet(port, "/metrics");
  EXPECT_NE(body.find("rstmesh_build_info{version=\""), std::string::npos) << body;
  EXPECT_EQ(body.find("node-"), std::string::npos) << "per-peer label:\n" << body;
}

}  // namespace
}  // namespace rstmesh
