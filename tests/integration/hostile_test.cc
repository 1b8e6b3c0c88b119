// Hostile input while a real audit runs: 10,000 connections of garbage, truncated and slow
// headers against one agent's data port, and malformed gRPC (raw bytes, undecodable
// messages, streams without hello, an oversized plan) against the controller. The audit
// still passes in every cell, both processes keep serving, and their memory stays bounded.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <random>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/wire_header.h"
#include "rstmesh/v1/agent_hub.grpc.pb.h"
#include "rstmesh/v1/control.grpc.pb.h"
#include "tests/support/process_fleet.h"
#include "tests/support/subprocess.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::RunProcess;
using testing::Subprocess;

// Resident memory of a process in KiB (VmRSS).
long RssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A TCP connection from `source` to `ip:port`, or -1.
int Dial(const std::string& source, const std::string& ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &peer.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True when the peer ended the connection within `timeout`.
bool ClosedByPeer(int fd, milliseconds timeout) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char buf[256];
  return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0;
}

struct FloodResult {
  int dialled = 0;
  int slow = 0;
  int slow_closed_by_agent = 0;
};

// `total` connections to the data port: a third random bytes, a third a truncated header,
// a third ten bytes of header and then silence (held open until the agent gives up on
// them, at most `max_open` at once).
FloodResult FloodDataPort(const std::string& ip, int port, int total, size_t max_open) {
  FloodResult r;
  std::mt19937 rng(1);
  TestHeader header;
  header.scenario = v1::SCENARIO_ABORTIVE_CLOSE;
  header.task_id = uint64_t{1} << 32 | 1;
  auto bytes = EncodeHeader(header);
  std::deque<int> held;
  auto release_oldest = [&] {
    if (ClosedByPeer(held.front(), seconds(10))) ++r.slow_closed_by_agent;
    close(held.front());
    held.pop_front();
  };
  for (int i = 0; i < total; ++i) {
    int fd = Dial("127.0.0.99", ip, port);
    if (fd < 0) continue;
    ++r.dialled;
    switch (i % 3) {
      case 0: {
        std::string garbage(1 + rng() % 2000, '\0');
        for (char& c : garbage) c = static_cast<char>(rng());
        garbage[0] = 'X';
        send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
        close(fd);
        break;
      }
      case 1:
        send(fd, bytes.data(), 30, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        close(fd);
        break;
      default:
        send(fd, bytes.data(), 10, MSG_NOSIGNAL);
        ++r.slow;
        held.push_back(fd);
        if (held.size() >= max_open) release_oldest();
    }
  }
  while (!held.empty()) release_oldest();
  return r;
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fleet_.StartController());
    for (int i = 1; i <= 3; ++i) {
      ASSERT_TRUE(fleet_.StartAgent(i, "a", {"--header-timeout-ms", "1000"}));
    }
    data_port_ = fleet_.data_port(1);
    ASSERT_GT(data_port_, 0) << fleet_.first_line(1);
    ASSERT_TRUE(fleet_.WaitForAgents(3));
    address_ = fleet_.address();
    grpc_port_ = std::stoi(address_.substr(address_.rfind(':') + 1));
  }

  testing::RunResult Ctl(std::vector<std::string> args) {
    return fleet_.Ctl(std::move(args), seconds(300));
  }

  testing::ProcessFleet fleet_;
  std::string address_;
  int grpc_port_ = 0, data_port_ = 0;
};

// Malformed gRPC against the controller; returns how many calls were answered with an error
// (as they all must be).
int MalformRpcs(const std::string& address, int port) {
  int refused = 0;
  // Raw bytes on the gRPC port.
  std::mt19937 rng(2);
  for (int i = 0; i < 300; ++i) {
    int fd = Dial("127.0.0.98", "127.0.0.1", port);
    if (fd < 0) continue;
    std::string garbage(1 + rng() % 4000, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
    close(fd);
  }
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  // Undecodable request messages.
  grpc::GenericStub generic(channel);
  for (const char* method : {"/rstmesh.v1.Control/StartRun", "/rstmesh.v1.Control/GetReport",
                             "/rstmesh.v1.Control/CancelRun"}) {
    for (int i = 0; i < 50; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + seconds(5));
      grpc::Slice slice(std::string("\xff\xff\xff\xff\x0f", 5));
      grpc::ByteBuffer request(&slice, 1), response;
      std::promise<grpc::Status> done;
      generic.UnaryCall(&context, method, {}, &request, &response,
                        [&](grpc::Status s) { done.set_value(s); });
      if (!done.get_future().get().ok()) ++refused;
    }
  }
  // AgentHub streams that break the protocol: no hello, a bad hello.
  auto hub = v1::AgentHub::NewStub(channel);
  for (int i = 0; i < 100; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(5));
    auto stream = hub->Connect(&context);
    v1::AgentMessage message;
    if (i % 2 == 0) {
      message.mutable_heartbeat();
    } else {
      message.mutable_hello()->mutable_agent()->set_id("x");
      message.mutable_hello()->mutable_agent()->set_data_endpoint("not an endpoint");
    }
    stream->Write(message);
    stream->WritesDone();
    v1::ControllerMessage reply;
    while (stream->Read(&reply)) {
    }
    if (!stream->Finish().ok()) ++refused;
  }
  // A plan far over the message limit.
  auto control = v1::Control::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(10));
  v1::StartRunRequest big;
  big.mutable_plan()->set_name(std::string(6 << 20, 'x'));
  v1::StartRunResponse response;
  grpc::Status status = control->StartRun(&context, big, &response);
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++refused;
  return refused;
}

TEST_F(HostileTest, AuditPassesWhileAgentAndControllerAreAttacked) {
  const long agent_before = RssKib(fleet_.agent(1).pid());
  const long controller_before = RssKib(fleet_.controller().pid());
  std::string plan = fleet_.dir() + "/plan.yaml";
  std::ofstream(plan) << R"(name: under attack
pattern: {kind: full_mesh}
scenarios:
  - {name: graceful_close, repetitions: 4}
  - {name: abortive_close, repetitions: 4}
  - {name: unread_data_close, repetitions: 4}
  - {name: half_close, repetitions: 4}
  - {name: refused, repetitions: 4}
  - {name: idle_hold, repetitions: 4, params: {idle_ms: 500}}
limits: {concurrency_per_agent: 2}
)";
  auto audit = std::async(std::launch::async, [&] {
    return Ctl({"run", "-f", plan, "--wait", "-o", "csv"});
  });
  std::future<int> rpcs =
      std::async(std::launch::async, [&] { return MalformRpcs(address_, grpc_port_); });
  FloodResult flood = FloodDataPort(testing::ProcessFleet::Address(1), data_port_, 10'000, 800);
  const int refused = rpcs.get();
  const long agent_after = RssKib(fleet_.agent(1).pid());
  const long controller_after = RssKib(fleet_.controller().pid());
  std::cout << "hostile: " << flood.dialled << " connections to the data port (" << flood.slow
            << " slow, " << flood.slow_closed_by_agent << " closed by the agent); " << refused
            << " malformed RPCs refused; agent RSS " << agent_before << " -> " << agent_after
            << " KiB, controller RSS " << controller_before << " -> " << controller_after
            << " KiB\n";
  EXPECT_EQ(flood.dialled, 10'000);
  EXPECT_EQ(flood.slow_closed_by_agent, flood.slow) << "a slow header was kept open";
  EXPECT_EQ(refused, 3 * 50 + 100 + 1);

  testing::RunResult result = audit.get();
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  int cells = 0;
  for (absl::string_view line : absl::StrSplit(result.out, '\n')) {
    if (line.empty() || line.rfind("source,", 0) == 0) continue;
    ++cells;
    EXPECT_NE(line.find(",PASS,"), std::string::npos) << line;
  }
  EXPECT_EQ(cells, 6 * 6);
  // Bounded: a second attack as large as the first leaves memory where the first did (the
  // first one's growth is allocator pools, and ASan's quarantine in sanitizer builds).
  FloodResult again = FloodDataPort(testing::ProcessFleet::Address(1), data_port_, 10'000, 800);
  EXPECT_EQ(again.slow_closed_by_agent, again.slow);
  EXPECT_EQ(MalformRpcs(address_, grpc_port_), 3 * 50 + 100 + 1);
  const long agent_again = RssKib(fleet_.agent(1).pid());
  const long controller_again = RssKib(fleet_.controller().pid());
  std::cout << "hostile: after a second attack, agent RSS " << agent_again
            << " KiB, controller RSS " << controller_again << " KiB\n";
  EXPECT_LT(agent_again - agent_after, 8 * 1024) << "the agent's memory grows with the flood";
  EXPECT_LT(controller_again - controller_after, 8 * 1024)
      << "the controller's memory grows with malformed calls";

  // Both still serve, and the agent counted every bad connection under a reason.
  EXPECT_EQ(Ctl({"agents"}).exit_code, 0);
  fleet_.agent(1).Signal(SIGTERM);
  ASSERT_EQ(fleet_.agent(1).Wait(seconds(10)), 0);
  std::smatch m;
  const std::string out = fleet_.agent(1).out();
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(rejected=(\d+) )"))) << out;
  EXPECT_GE(std::stoi(m[1]), 20'000) << out;
}

}  // namespace
}  // namespace rstmesh
