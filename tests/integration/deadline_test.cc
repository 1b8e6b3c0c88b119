// Every step of a test connection has a deadline: a peer that never answers, or a SYN that
// is never answered, ends as a TIMEOUT observation at the right stage, never a hang.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "agent/data_plane.h"
#include "core/closure.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A listener on 127.0.0.3 that never accepts. With backlog 0 its accept queue holds one
// connection; once that is full the kernel drops further SYNs, so a connect times out.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(0x7F000003);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() {
    for (int fd : fillers_) close(fd);
    close(fd_);
  }
  uint16_t port() const { return port_; }
  asio::ip::tcp::endpoint endpoint() const { return {asio::ip::make_address("127.0.0.3"), port_}; }
  // Fills the accept queue with `n` established-but-never-accepted connections.
  void Fill(int n) {
    for (int i = 0; i < n; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      auto ep = endpoint();
      connect(fd, ep.data(), ep.size());
      fillers_.push_back(fd);
    }
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> fillers_;
};

Task TaskTo(const asio::ip::tcp::endpoint& peer, v1::Scenario scenario) {
  Task task;
  task.task_id = 1;
  task.scenario = scenario;
  task.peer = peer;
  task.timeouts.connect = milliseconds(400);
  task.timeouts.io = milliseconds(400);
  return task;
}

TEST(DeadlineTest, PeerThatNeverAnswersIsATimeoutOnRead) {
  SilentListener listener;  // the connection completes in the kernel; nobody reads or writes
  DataPlane plane(1);
  auto start = std::chrono::steady_clock::now();
  auto future = plane.RunTask(TaskTo(listener.endpoint(), v1::SCENARIO_GRACEFUL_CLOSE));
  ASSERT_EQ(future.wait_for(seconds(10)), std::future_status::ready) << "the task hung";
  v1::Observation obs = future.get();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ClosureName(obs.observed()), "TIMEOUT") << obs.ShortDebugString();
  EXPECT_EQ(StageName(obs.stage()), "read");
  EXPECT_FALSE(obs.matched());
  EXPECT_LT(took, seconds(5));
  EXPECT_GE(took, milliseconds(400));
}

TEST(DeadlineTest, UnansweredSynIsATimeoutOnConnect) {
  SilentListener listener;
  listener.Fill(4);  // accept queue full: further SYNs are dropped
  DataPlane plane(1);
  auto future = plane.RunTask(TaskTo(listener.endpoint(), v1::SCENARIO_GRACEFUL_CLOSE));
  ASSERT_EQ(future.wait_for(seconds(10)), std::future_status::ready) << "the task hung";
  v1::Observation obs = future.get();
  EXPECT_EQ(ClosureName(obs.observed()), "TIMEOUT") << obs.ShortDebugString();
  EXPECT_EQ(StageName(obs.stage()), "connect");
  EXPECT_EQ(ActionName(obs.action()), "NOTHING");
}

}  // namespace
}  // namespace rstmesh
