#include "controller/metrics_server.h"

#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "controller/controller.h"
#include "core/endpoint.h"

namespace rstmesh {
namespace asio = boost::asio;

MetricsServer::MetricsServer(Controller* controller) : controller_(controller), acceptor_(io_) {}

MetricsServer::~MetricsServer() { Stop(); }

absl::Status MetricsServer::Start(const std::string& listen) {
  absl::StatusOr<HostPort> hp = ParseHostPort(listen, 7401);
  if (!hp.ok()) {
    // Port 0 is refused by ParseHostPort; accept "host:0" here for tests.
    if (listen.size() > 2 && listen.substr(listen.size() - 2) == ":0") {
      hp = HostPort{listen.substr(0, listen.size() - 2), 0};
    } else {
      return hp.status();
    }
  }
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(hp->host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("'", hp->host, "' is not an IP address"));
  asio::ip::tcp::endpoint endpoint(address, hp->port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": ", ec.message()));
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        for (;;) {
          boost::system::error_code accept_error;
          asio::ip::tcp::socket socket = co_await acceptor_.async_accept(
              asio::redirect_error(asio::use_awaitable, accept_error));
          if (accept_error == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
          if (!accept_error) Serve(std::move(socket));
        }
      },
      asio::detached);
  thread_ = std::thread([this] { io_.run(); });
  return absl::OkStatus();
}

void MetricsServer::Stop() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
}

void MetricsServer::Serve(asio::ip::tcp::socket socket) {
  auto conn = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
  asio::co_spawn(
      io_,
      [this, conn]() -> asio::awaitable<void> {
        asio::steady_timer deadline(io_, std::chrono::seconds(5));
        deadline.async_wait([conn](boost::system::error_code ec) {
          if (!ec) conn->close(ec);
        });
        asio::streambuf request(8192);  // bounded: a longer request line is refused
        boost::system::error_code ec;
        co_await asio::async_read_until(*conn, request, "\r\n",
                                        asio::redirect_error(asio::use_awaitable, ec));
        std::string status = "200 OK", type = "text/plain; charset=utf-8", body;
        if (ec) {
          status = "400 Bad Request";
          body = "bad request\n";
        } else {
          std::string line;
          std::istream in(&request);
          std::getline(in, line);
          if (line.rfind("GET /metrics", 0) == 0) {
            type = "text/plain; version=0.0.4; charset=utf-8";
            body = controller_->MetricsText();
          } else if (line.rfind("GET /healthz", 0) == 0) {
            body = "ok\n";
          } else {
            status = "404 Not Found";
            body = "not found: try /metrics or /healthz\n";
          }
        }
        std::string response = absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                                            "\r\nContent-Length: ", body.size(),
                                            "\r\nConnection: close\r\n\r\n", body);
        co_await asio::async_write(*conn, asio::buffer(response),
                                   asio::redirect_error(asio::use_awaitable, ec));
        deadline.cancel();
        conn->close(ec);
      },
      asio::detached);
}

}  // namespace rstmesh
