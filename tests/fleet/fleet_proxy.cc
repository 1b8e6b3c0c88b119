// fleet_proxy: the userspace TCP proxy the fleet tests put on the router to play a common
// kind of middlebox. Connections DNATed to it are relayed to their original destination
// (SO_ORIGINAL_DST), with two behaviours of many L4/L7 proxies:
//  - half-close collapses: the first EOF from either side closes both directions;
//  - an upstream reset becomes a FIN towards the client.
// Usage: fleet_proxy LISTEN_ADDRESS PORT. Runs until killed. A test tool, not the product.
#include <utility>

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio.hpp>
#include <iostream>
#include <memory>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// From <linux/netfilter_ipv4.h>, which cannot be included next to <netinet/in.h>.
constexpr int kSoOriginalDst = 80;

// Copies one direction. The first EOF or error on it (the client's FIN, the upstream's FIN or
// reset) closes both sockets with a plain close(): a FIN each way.
asio::awaitable<void> Pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  std::array<char, 16384> buf;
  for (;;) {
    boost::system::error_code ec;
    size_t n = co_await from->async_read_some(asio::buffer(buf),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      boost::system::error_code ignored;
      to->shutdown(tcp::socket::shutdown_both, ignored);
      to->close(ignored);
      from->close(ignored);
      co_return;
    }
    co_await asio::async_write(*to, asio::buffer(buf.data(), n),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      boost::system::error_code ignored;
      from->close(ignored);
      to->close(ignored);
      co_return;
    }
  }
}

asio::awaitable<void> Relay(tcp::socket client_socket) {
  auto client = std::make_shared<tcp::socket>(std::move(client_socket));
  sockaddr_in original{};
  socklen_t len = sizeof(original);
  if (getsockopt(client->native_handle(), SOL_IP, kSoOriginalDst, &original, &len) != 0) {
    co_return;
  }
  tcp::endpoint target(asio::ip::address_v4(ntohl(original.sin_addr.s_addr)),
                       ntohs(original.sin_port));
  auto upstream = std::make_shared<tcp::socket>(client->get_executor());
  boost::system::error_code ec;
  co_await upstream->async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  auto ex = client->get_executor();
  asio::co_spawn(ex, Pump(client, upstream), asio::detached);
  asio::co_spawn(ex, Pump(upstream, client), asio::detached);
}

asio::awaitable<void> Accept(tcp::acceptor& acceptor) {
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), Relay(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fleet_proxy LISTEN_ADDRESS PORT\n";
    return 2;
  }
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(argv[1]),
                                           static_cast<uint16_t>(std::stoi(argv[2]))));
  std::cout << "proxying on " << acceptor.local_endpoint() << std::endl;
  asio::co_spawn(io, Accept(acceptor), asio::detached);
  io.run();
}
