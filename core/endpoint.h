// HOST[:PORT] parsing and printing, IPv4 and IPv6 alike ("127.0.0.2:7402", "[::1]:7402",
// "::1", "agent-3.example").
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include <boost/asio/ip/tcp.hpp>

#include "absl/status/statusor.h"

namespace rstmesh {

struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
};

// Splits HOST[:PORT]; an IPv6 literal with a port needs brackets. Port 0 is not allowed.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, uint16_t default_port);

// Resolves a HostPort to one endpoint (the first address the resolver returns).
absl::StatusOr<boost::asio::ip::tcp::endpoint> Resolve(const HostPort& host_port);

// "127.0.0.2:7402", "[::1]:7402".
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace rstmesh
