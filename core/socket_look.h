// Non-consuming looks at a TCP socket, and the socket options scenarios need. A look never
// consumes a pending socket error: the classifier looks first, then reads the error.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

// tcpi_state values (include/net/tcp_states.h).
inline constexpr uint8_t kTcpEstablished = 1;
inline constexpr uint8_t kTcpCloseWait = 8;
inline constexpr uint8_t kTcpClose = 7;

struct SocketLook {
  uint8_t state = 0;
  uint32_t rtt_us = 0;
  uint32_t rttvar_us = 0;
  uint32_t total_retransmits = 0;
  uint32_t unacked = 0;
  uint64_t bytes_acked = 0;
  uint64_t bytes_received = 0;
  int16_t revents = 0;  // poll() revents for POLLIN | POLLOUT | POLLRDHUP
  int unread = 0;       // bytes waiting in the receive queue (FIONREAD)
};

// TCP_INFO, poll() with a zero timeout and FIONREAD: none of them consumes SO_ERROR.
SocketLook LookAt(int fd);
void ToProto(const SocketLook& look, v1::TcpInfoSnapshot* out);

// SO_LINGER {1, 0}: the next close() sends a RST and discards unsent data.
absl::Status SetAbortiveClose(int fd);

// Puts an established socket in TCP_REPAIR mode so that close() sends nothing at all: the
// peer's next segment reaches a host that no longer has the socket. Needs CAP_NET_ADMIN.
absl::Status EnterRepairMode(int fd);

// Whether this process may use TCP_REPAIR (tries it on a fresh, unconnected socket).
bool TcpRepairPermitted();

}  // namespace rstmesh
