// A deliberately dumb TCP client for feeding the data port bytes no agent would send.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace rstmesh::testing {

class RawClient {
 public:
  // Connects (blocking). fd() < 0 on failure.
  explicit RawClient(const boost::asio::ip::tcp::endpoint& peer);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  int fd() const { return fd_; }
  bool Send(const std::vector<uint8_t>& bytes);
  void ShutdownWrite();
  // Waits until the peer ends the connection (read returns 0 or an error). False on timeout.
  bool WaitClosedByPeer(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
};

}  // namespace rstmesh::testing
