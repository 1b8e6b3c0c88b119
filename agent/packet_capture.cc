#include "agent/packet_capture.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/unicast.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/str_cat.h"
#include "core/endpoint.h"
#include "core/hops.h"

namespace rstmesh {
namespace {

namespace ip = boost::asio::ip;

// Only TCP's control segments, IPv4 and IPv6 (no extension headers: the agents' own).
constexpr const char* kFilter =
    "(ip and tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or "
    "(ip6 and ip6[6] = 6 and (ip6[53] & 7) != 0)";
constexpr int kSnapLength = 160;
constexpr uint16_t kProbePortBase = 33434;  // traceroute's

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// An IPv4-mapped IPv6 address as the IPv4 address it is (a dual-stack socket's view).
ip::address Plain(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string EndpointKey(const ip::address& a, uint16_t port) {
  return FormatEndpoint(ip::tcp::endpoint(Plain(a), port));
}

std::string FlowKey(const std::string& a, const std::string& b) {
  return a < b ? absl::StrCat(a, "|", b) : absl::StrCat(b, "|", a);
}

std::string Flags(uint8_t f) {
  std::string out;
  if (f & 0x02) out += 'S';
  if (f & 0x01) out += 'F';
  if (f & 0x04) out += 'R';
  if (f & 0x10) out += 'A';
  return out;
}

std::optional<ip::tcp::endpoint> Parse(const std::string& text) {
  absl::StatusOr<HostPort> hp = ParseHostPort(text, 0);
  if (!hp.ok()) return std::nullopt;
  boost::system::error_code ec;
  ip::address a = ip::make_address(hp->host, ec);
  if (ec) return std::nullopt;
  return ip::tcp::endpoint(Plain(a), hp->port);
}

// The address of the device `hop` hops towards `peer`: a UDP datagram with that TTL, and the
// ICMP time exceeded it earns from the socket's error queue. Empty when nothing answered.
boost::asio::awaitable<std::string> ProbeDevice(ip::address peer, int hop,
                                                std::chrono::milliseconds timeout) {
  auto executor = co_await boost::asio::this_coro::executor;
  ip::udp::socket socket(executor);
  boost::system::error_code ec;
  socket.open(peer.is_v4() ? ip::udp::v4() : ip::udp::v6(), ec);
  if (ec) co_return "";
  socket.set_option(ip::unicast::hops(hop), ec);
  const int on = 1;
  if (peer.is_v4()) {
    setsockopt(socket.native_handle(), SOL_IP, IP_RECVERR, &on, sizeof(on));
  } else {
    setsockopt(socket.native_handle(), SOL_IPV6, IPV6_RECVERR, &on, sizeof(on));
  }
  const char probe[] = "rstmesh-hop-probe";
  socket.send_to(boost::asio::buffer(probe, sizeof(probe) - 1),
                 ip::udp::endpoint(peer, static_cast<uint16_t>(kProbePortBase + hop)), 0, ec);
  if (ec) co_return "";
  boost::asio::steady_timer timer(executor);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    char data[64];
    char control[512];
    iovec iov{data, sizeof(data)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (recvmsg(socket.native_handle(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
        const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
        if (!v4 && !v6) continue;
        const auto* ee = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(c));
        const bool exceeded = (ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == 11) ||
                              (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == 3);
        if (!exceeded) continue;
        const sockaddr* offender = SO_EE_OFFENDER(ee);
        char text[INET6_ADDRSTRLEN] = {0};
        if (offender->sa_family == AF_INET) {
          inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(offender)->sin_addr, text,
                    sizeof(text));
        } else if (offender->sa_family == AF_INET6) {
          inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(offender)->sin6_addr, text,
                    sizeof(text));
        }
        co_return std::string(text);
      }
    }
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
  co_return "";
}

// What the capture needs of a packet: its headers, and the two ends as "host:port".
struct Parsed {
  v1::PacketSeen seen;  // time_us left 0
  std::string src, dst;
};

std::optional<Parsed> ParsePacket(int linktype, const uint8_t* data, size_t caplen) {
  // The "any" device's cooked headers: LINUX_SLL (16 bytes, protocol last) or SLL2 (20,
  // protocol first).
  size_t offset = 0;
  uint16_t protocol = 0;
  if (linktype == DLT_LINUX_SLL && caplen >= 16) {
    protocol = Be16(data + 14);
    offset = 16;
  } else if (linktype == DLT_LINUX_SLL2 && caplen >= 20) {
    protocol = Be16(data);
    offset = 20;
  } else {
    return std::nullopt;
  }
  const uint8_t* p = data + offset;
  const size_t n = caplen - offset;
  Parsed out;
  ip::address src, dst;
  size_t tcp = 0;
  uint32_t ip_payload = 0;
  if (protocol == 0x0800 && n >= 20) {
    const size_t ihl = (p[0] & 0x0f) * 4u;
    if (n < ihl + 20 || p[9] != 6) return std::nullopt;
    out.seen.set_ttl(p[8]);
    out.seen.set_ip_id(Be16(p + 4));
    src = ip::make_address_v4(Be32(p + 12));
    dst = ip::make_address_v4(Be32(p + 16));
    tcp = ihl;
    ip_payload = Be16(p + 2) > ihl ? Be16(p + 2) - static_cast<uint32_t>(ihl) : 0;
  } else if (protocol == 0x86DD && n >= 60) {
    if (p[6] != 6) return std::nullopt;
    out.seen.set_ttl(p[7]);
    ip::address_v6::bytes_type a{}, b{};
    std::memcpy(a.data(), p + 8, 16);
    std::memcpy(b.data(), p + 24, 16);
    src = ip::address_v6(a);
    dst = ip::address_v6(b);
    tcp = 40;
    ip_payload = Be16(p + 4);
  } else {
    return std::nullopt;
  }
  const uint8_t* t = p + tcp;
  const uint32_t tcp_header = (t[12] >> 4) * 4u;
  out.seen.set_payload(ip_payload > tcp_header ? ip_payload - tcp_header : 0);
  out.seen.set_seq(Be32(t + 4));
  out.seen.set_ack(Be32(t + 8));
  out.seen.set_flags(Flags(t[13]));
  out.seen.set_window(Be16(t + 14));
  out.src = EndpointKey(src, Be16(t));
  out.dst = EndpointKey(dst, Be16(t + 2));
  return out;
}

// Memory accounting: what a packet and a connection cost besides their bytes.
constexpr size_t kPacketOverhead = 48;
constexpr size_t kFlowOverhead = 128;

}  // namespace

absl::StatusOr<std::unique_ptr<PacketCapture>> PacketCapture::Open(Options options) {
  char error[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* handle = pcap_create("any", error);
  if (handle == nullptr) return absl::UnavailableError(absl::StrCat("packet capture: ", error));
  pcap_set_snaplen(handle, kSnapLength);
  pcap_set_immediate_mode(handle, 1);
  pcap_set_buffer_size(handle, 4 << 20);
  const int activated = pcap_activate(handle);
  if (activated == PCAP_ERROR_PERM_DENIED) {
    pcap_close(handle);
    return absl::PermissionDeniedError("packet capture needs CAP_NET_RAW");
  }
  if (activated < 0) {
    std::string why = pcap_geterr(handle);
    pcap_close(handle);
    return absl::UnavailableError(absl::StrCat("packet capture: ", why));
  }
  bpf_program program{};
  if (pcap_compile(handle, &program, kFilter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      pcap_setfilter(handle, &program) != 0) {
    std::string why = pcap_geterr(handle);
    pcap_freecode(&program);
    pcap_close(handle);
    return absl::InternalError(absl::StrCat("packet capture filter: ", why));
  }
  pcap_freecode(&program);
  if (pcap_setnonblock(handle, 1, error) != 0) {
    pcap_close(handle);
    return absl::InternalError(absl::StrCat("packet capture: ", error));
  }
  const int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    pcap_close(handle);
    return absl::InternalError("packet capture: eventfd failed");
  }
  return std::unique_ptr<PacketCapture>(new PacketCapture(handle, stop, options));
}

PacketCapture::PacketCapture(pcap* handle, int stop_fd, Options options)
    : handle_(handle), stop_fd_(stop_fd), linktype_(pcap_datalink(handle)), options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

PacketCapture::~PacketCapture() {
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  pcap_close(handle_);
  close(stop_fd_);
}

void PacketCapture::Loop() {
  const int fd = pcap_get_selectable_fd(handle_);
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    poll(fds, 2, 50);
    if (fds[1].revents != 0) return;
    pcap_dispatch(
        handle_, -1,
        [](u_char* self, const pcap_pkthdr* h, const u_char* data) {
          reinterpret_cast<PacketCapture*>(self)->OnPacket(
              int64_t{h->ts.tv_sec} * 1'000'000 + h->ts.tv_usec, data, h->caplen, h->len);
        },
        reinterpret_cast<u_char*>(this));
    passes_.fetch_add(1);
  }
}

void PacketCapture::OnPacket(int64_t time_us, const uint8_t* data, uint32_t caplen, uint32_t len) {
  std::optional<Parsed> parsed = ParsePacket(linktype_, data, caplen);
  if (!parsed) return;
  packets_.fetch_add(1);
  const std::string key = FlowKey(parsed->src, parsed->dst);
  absl::MutexLock lock(&mu_);
  auto [it, added] = flows_.try_emplace(key);
  if (added) {
    order_.push_back(key);
    bytes_ += kFlowOverhead + key.size();
  }
  Flow& flow = it->second;
  // Keep the handshake and the latest: the end of the connection is what tells.
  if (flow.packets.size() >= options_.max_packets_per_connection) {
    bytes_ -= flow.packets[2].bytes.size() + kPacketOverhead;
    flow.packets.erase(flow.packets.begin() + 2);
  }
  flow.packets.push_back({time_us, std::string(reinterpret_cast<const char*>(data), caplen), len});
  bytes_ += caplen + kPacketOverhead;
  while (bytes_ > options_.max_bytes && order_.size() > 1) Forget(order_.front());
}

void PacketCapture::Forget(const std::string& key) {
  auto it = flows_.find(key);
  if (it != flows_.end()) {
    for (const PcapRecord& r : it->second.packets) bytes_ -= r.bytes.size() + kPacketOverhead;
    bytes_ -= kFlowOverhead + key.size();
    flows_.erase(it);
  }
  order_.pop_front();
}

boost::asio::awaitable<void> PacketCapture::Attach(v1::Observation& obs) {
  const std::optional<ip::tcp::endpoint> local = Parse(obs.local());
  const std::optional<ip::tcp::endpoint> peer = Parse(obs.peer());
  if (!local || !peer) co_return;
  const std::string self = FormatEndpoint(*local);
  const uint64_t pass = passes_.load();
  auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer timer(executor);
  const auto deadline = std::chrono::steady_clock::now() + options_.catch_up;
  while (!CaughtUpSince(pass) && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
  std::vector<PcapRecord> packets;
  {
    absl::MutexLock lock(&mu_);
    auto it = flows_.find(FlowKey(self, FormatEndpoint(*peer)));
    if (it != flows_.end()) packets = it->second.packets;
  }
  v1::PacketEvidence& evidence = *obs.mutable_evidence();
  if (packets.empty()) {
    evidence.set_note("no packets of this connection were captured");
    co_return;
  }
  PcapFile file{linktype_, {}};
  const int64_t first = packets.front().time_us;
  for (PcapRecord& record : packets) {
    std::optional<Parsed> parsed = ParsePacket(
        linktype_, reinterpret_cast<const uint8_t*>(record.bytes.data()), record.bytes.size());
    if (!parsed) continue;
    v1::PacketSeen* seen = evidence.add_packets();
    *seen = std::move(parsed->seen);
    seen->set_inbound(parsed->dst == self);
    seen->set_time_us(record.time_us - first);
    file.records.push_back(std::move(record));
  }
  const v1::PacketSeen* ending = nullptr;     // the RST that reached this end
  const v1::PacketSeen* reference = nullptr;  // the peer's own SYN or SYN-ACK
  for (const v1::PacketSeen& seen : evidence.packets()) {
    if (!seen.inbound()) continue;
    if (reference == nullptr && seen.flags().find('S') != std::string::npos) reference = &seen;
    if (ending == nullptr && seen.flags().find('R') != std::string::npos) ending = &seen;
  }
  absl::StatusOr<std::string> pcap = WritePcap(file);
  if (pcap.ok()) evidence.set_pcap(*std::move(pcap));
  if (ending != nullptr && reference != nullptr &&
      HopsTravelled(ending->ttl()) < HopsTravelled(reference->ttl())) {
    const int hop = HopsTravelled(ending->ttl()) + 1;
    std::string device = co_await ProbeDevice(peer->address(), hop, options_.probe_timeout);
    if (!device.empty()) {
      evidence.set_device(device);
      evidence.set_device_hop(static_cast<uint32_t>(hop));
    }
  }
}

}  // namespace rstmesh
