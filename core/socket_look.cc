// Uses <linux/tcp.h> for the full struct tcp_info (glibc's lacks bytes_acked); it clashes
// with <netinet/tcp.h>, so nothing here includes Asio.
#include "core/socket_look.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rstmesh {

SocketLook LookAt(int fd) {
  SocketLook look;
  struct tcp_info info;
  std::memset(&info, 0, sizeof(info));
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
    look.state = info.tcpi_state;
    look.rtt_us = info.tcpi_rtt;
    look.rttvar_us = info.tcpi_rttvar;
    look.total_retransmits = info.tcpi_total_retrans;
    look.unacked = info.tcpi_unacked;
    look.bytes_acked = info.tcpi_bytes_acked;
    look.bytes_received = info.tcpi_bytes_received;
  }
  struct pollfd pfd {
    fd, static_cast<short>(POLLIN | POLLOUT | POLLRDHUP), 0
  };
  if (poll(&pfd, 1, 0) >= 0) look.revents = pfd.revents;
  int unread = 0;
  if (ioctl(fd, SIOCINQ, &unread) == 0) look.unread = unread;
  return look;
}

void ToProto(const SocketLook& look, v1::TcpInfoSnapshot* out) {
  out->set_state(look.state);
  out->set_rtt_us(look.rtt_us);
  out->set_rttvar_us(look.rttvar_us);
  out->set_total_retransmits(look.total_retransmits);
  out->set_bytes_acked(look.bytes_acked);
  out->set_bytes_received(look.bytes_received);
  out->set_unacked(look.unacked);
  out->set_poll_revents(static_cast<uint16_t>(look.revents));
}

absl::Status SetAbortiveClose(int fd) {
  struct linger lg {
    1, 0
  };
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0) {
    return absl::InternalError(absl::StrCat("SO_LINGER: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EnterRepairMode(int fd) {
  int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) != 0) {
    int err = errno;
    if (err == EPERM) {
      return absl::PermissionDeniedError("TCP_REPAIR needs CAP_NET_ADMIN");
    }
    return absl::InternalError(absl::StrCat("TCP_REPAIR: ", std::strerror(err)));
  }
  return absl::OkStatus();
}

bool TcpRepairPermitted() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  bool ok = EnterRepairMode(fd).ok();
  close(fd);
  return ok;
}

}  // namespace rstmesh
