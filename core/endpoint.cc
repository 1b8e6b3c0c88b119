#include "core/endpoint.h"

#include <boost/asio/io_context.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rstmesh {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, uint16_t default_port) {
  HostPort out;
  out.port = default_port;
  absl::string_view port_text;
  if (text.empty()) return absl::InvalidArgumentError("peer: empty address");
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("peer '", text, "': missing ']'"));
    }
    out.host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("peer '", text, "': expected ':PORT' after ']'"));
      }
      port_text = rest.substr(1);
    }
  } else if (size_t colon = text.find(':'); colon != absl::string_view::npos &&
                                            text.find(':', colon + 1) == absl::string_view::npos) {
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  } else {
    out.host = std::string(text);  // a name, an IPv4 address or a bare IPv6 literal
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("peer '", text, "': empty host"));
  }
  if (!port_text.empty() || (text.back() == ':')) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer '", text, "': port must be a number from 1 to 65535"));
    }
    out.port = static_cast<uint16_t>(port);
  }
  if (out.port == 0) {
    return absl::InvalidArgumentError(absl::StrCat("peer '", text, "': no port given"));
  }
  return out;
}

absl::StatusOr<boost::asio::ip::tcp::endpoint> Resolve(const HostPort& host_port) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host_port.host, ec);
  if (!ec) return boost::asio::ip::tcp::endpoint(address, host_port.port);
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(host_port.host, std::to_string(host_port.port), ec);
  if (ec || results.empty()) {
    return absl::NotFoundError(
        absl::StrCat("cannot resolve '", host_port.host, "': ", ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint();
}

std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
  if (endpoint.address().is_v6()) {
    return absl::StrCat("[", endpoint.address().to_string(), "]:", endpoint.port());
  }
  return absl::StrCat(endpoint.address().to_string(), ":", endpoint.port());
}

}  // namespace rstmesh
