// PacketCapture: the evidence of who ended a test connection. With libpcap on every
// interface (CAP_NET_RAW), it keeps TCP's control segments (SYN, FIN, RST) of recent
// connections, and hands a deviating observation those of its own connection: their
// headers (TTL / hop limit, IP ID, sequence, window, time) and the packets as a small pcap.
// When the connection ended with a RST that travelled fewer hops than the peer's own
// segments, a UDP probe with that TTL asks the device at that distance for its address
// (ICMP time exceeded, read from the socket's error queue: no raw socket needed).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/pcap_file.h"
#include "rstmesh/v1/closure.pb.h"

struct pcap;

namespace rstmesh {

class PacketCapture {
 public:
  struct Options {
    // Memory for the packets of recent connections: the oldest connections are forgotten
    // first (a flood of connections to the data port costs at most this).
    size_t max_bytes = 8 << 20;
    size_t max_packets_per_connection = 12;
    std::chrono::milliseconds catch_up{100};  // how long Attach waits for the capture
    std::chrono::milliseconds probe_timeout{500};
  };

  // kPermissionDenied without CAP_NET_RAW; kUnavailable when "any" cannot be captured.
  static absl::StatusOr<std::unique_ptr<PacketCapture>> Open(Options options);
  static absl::StatusOr<std::unique_ptr<PacketCapture>> Open() { return Open(Options{}); }
  ~PacketCapture();
  PacketCapture(const PacketCapture&) = delete;
  PacketCapture& operator=(const PacketCapture&) = delete;

  // Waits until the capture has caught up with packets already delivered, then fills
  // obs.evidence with the packets of its connection (obs.local <-> obs.peer) and, for a RST
  // that came from closer than the peer, the device that sent it.
  boost::asio::awaitable<void> Attach(v1::Observation& obs);

  uint64_t packets_seen() const { return packets_.load(); }

 private:
  struct Flow {
    std::vector<PcapRecord> packets;  // as captured; parsed again when asked for
  };

  PacketCapture(pcap* handle, int stop_fd, Options options);
  void Loop();
  void OnPacket(int64_t time_us, const uint8_t* data, uint32_t caplen, uint32_t len);
  void Forget(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CaughtUpSince(uint64_t pass) const { return passes_.load() >= pass + 2; }

  pcap* handle_;
  int stop_fd_;  // eventfd: wakes the loop to stop
  int linktype_;
  Options options_;
  std::atomic<uint64_t> passes_{0};
  std::atomic<uint64_t> packets_{0};
  absl::Mutex mu_;
  std::map<std::string, Flow> flows_ ABSL_GUARDED_BY(mu_);  // by the two ends, sorted
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);      // flows by first packet
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace rstmesh
