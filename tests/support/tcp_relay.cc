#include "tests/support/tcp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rstmesh::testing {
namespace {

// Closes with a RST instead of a FIN.
void Reset(int fd) {
  linger abort{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  close(fd);
}

bool WriteAll(int fd, const char* data, ssize_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= w;
  }
  return true;
}

}  // namespace

TcpRelay::TcpRelay(std::string upstream_host, int upstream_port)
    : upstream_host_(std::move(upstream_host)), upstream_port_(upstream_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

TcpRelay::~TcpRelay() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> pumps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pumps.swap(pumps_);
  }
  for (std::thread& t : pumps) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void TcpRelay::Accept() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++accepted_;
    const Cut cut = cut_.load();
    if (cut == Cut::kFin) {
      close(client);
      continue;
    }
    if (cut == Cut::kRst) {
      Reset(client);
      continue;
    }
    const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    inet_pton(AF_INET, upstream_host_.c_str(), &addr.sin_addr);
    if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(upstream);
      Reset(client);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void TcpRelay::Pump(int client, int upstream) {
  const int fds[2] = {client, upstream};
  bool open_in[2] = {true, true};  // whether each side may still send to us
  char buffer[65536];
  while (!stopping_ && (open_in[0] || open_in[1])) {
    const Cut cut = cut_.load();
    if (cut == Cut::kFin) {
      close(client);
      close(upstream);
      return;
    }
    if (cut == Cut::kRst) {
      Reset(client);
      Reset(upstream);
      return;
    }
    if (cut == Cut::kSilent) {
      // Nothing passes; what is sent meanwhile waits in the kernels' buffers.
      poll(nullptr, 0, 20);
      continue;
    }
    pollfd p[2] = {{open_in[0] ? client : -1, POLLIN, 0}, {open_in[1] ? upstream : -1, POLLIN, 0}};
    if (poll(p, 2, 20) <= 0) continue;
    for (int side = 0; side < 2; ++side) {
      if (p[side].fd < 0 || !(p[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = recv(fds[side], buffer, sizeof(buffer), 0);
      if (n > 0 && WriteAll(fds[1 - side], buffer, n)) continue;
      if (n == 0) {
        // A FIN passes on as a FIN.
        open_in[side] = false;
        shutdown(fds[1 - side], SHUT_WR);
        continue;
      }
      // A reset (or a failed write) passes on as a reset.
      Reset(client);
      Reset(upstream);
      return;
    }
  }
  close(client);
  close(upstream);
}

}  // namespace rstmesh::testing
