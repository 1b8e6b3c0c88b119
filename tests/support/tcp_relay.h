// TcpRelay: a real TCP relay on loopback between clients and one upstream address, which a
// test cuts the way networks do: every connection closed with FIN, or reset (new ones are
// then closed the same way), or a silent partition (connections stay open and new ones are
// accepted, but nothing passes either way) — and then restores.
//
// Thread-safe. One thread accepts, one per connection pumps; all stop with the relay.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rstmesh::testing {

class TcpRelay {
 public:
  enum class Cut { kNone, kFin, kRst, kSilent };

  // Listens on 127.0.0.1 (a free port) and relays to `upstream_host`:`upstream_port`.
  TcpRelay(std::string upstream_host, int upstream_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void StartCut(Cut cut) { cut_.store(cut); }
  void Restore() { cut_.store(Cut::kNone); }
  size_t accepted() const { return accepted_.load(); }

 private:
  void Accept();
  void Pump(int client, int upstream);

  const std::string upstream_host_;
  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<Cut> cut_{Cut::kNone};
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pumps_;
};

}  // namespace rstmesh::testing
