#include "telemetry/http_endpoint.h"

#include <utility>

#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/endpoint.h"

namespace rstmesh {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto kRequestDeadline = std::chrono::seconds(10);
constexpr auto kDrainDeadline = std::chrono::seconds(1);
constexpr size_t kMaxDrainBytes = 256 * 1024;

// g++ 12 reports Asio's coroutine frame (its own matching operator new and delete) as freed
// by a mismatched function: a false positive, silenced for this coroutine only (as in
// agent/responder.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> Serve(
    beast::tcp_stream stream,
    std::function<HttpEndpoint::Response(const std::string&, const std::string&)> route,
    std::shared_ptr<int> sessions) {
  ++*sessions;
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(HttpEndpoint::kMaxHeaderBytes);
    parser.body_limit(16 * 1024);
    stream.expires_after(kRequestDeadline);
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    // The client closed, or went silent past the deadline between requests: nothing to say.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        (ec && !parser.got_some())) {
      break;
    }
    HttpEndpoint::Response response;
    bool keep_alive = false;
    bool head = false;
    if (ec == http::error::header_limit) {
      response = {431, "text/plain; charset=utf-8",
                  absl::StrCat("request header fields too large: at most ",
                               HttpEndpoint::kMaxHeaderBytes, " bytes\n")};
    } else if (ec == http::error::body_limit) {
      response = {413, "text/plain; charset=utf-8", "request body too large\n"};
    } else if (ec) {
      response = {400, "text/plain; charset=utf-8",
                  absl::StrCat("bad request: ", ec.message(), "\n")};
    } else {
      const auto& request = parser.get();
      keep_alive = request.keep_alive();
      head = request.method() == http::verb::head;
      response = route(std::string(request.method_string()), std::string(request.target()));
    }
    http::response<http::string_body> reply{static_cast<http::status>(response.status), 11};
    reply.set(http::field::content_type, response.content_type);
    if (response.status == 405) reply.set(http::field::allow, "GET, HEAD");
    reply.content_length(response.body.size());
    if (!head) reply.body() = std::move(response.body);
    reply.keep_alive(keep_alive);
    stream.expires_after(kRequestDeadline);
    http::response_serializer<http::string_body> serializer{reply};
    if (head) serializer.split(true);
    if (head) {
      co_await http::async_write_header(stream, serializer,
                                        asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await http::async_write(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || !keep_alive) break;
  }
  // Drain what the client still sends (the rest of a refused request) for a moment: closing
  // with unread bytes would answer with a reset instead of the response above.
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  stream.expires_after(kDrainDeadline);
  size_t drained = 0;
  std::array<char, 8192> scratch;
  while (drained < kMaxDrainBytes) {
    const size_t n = co_await stream.async_read_some(asio::buffer(scratch),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    drained += n;
  }
  stream.socket().close(ec);
  --*sessions;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

HttpEndpoint::HttpEndpoint() : acceptor_(io_) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

void HttpEndpoint::Handle(std::string path, Handler handler) {
  handlers_[std::move(path)] = std::move(handler);
}

HttpEndpoint::Response HttpEndpoint::Route(const std::string& method,
                                           const std::string& target) const {
  auto it = handlers_.find(target.substr(0, target.find('?')));
  if (it == handlers_.end()) {
    std::vector<std::string> paths;
    for (const auto& [path, handler] : handlers_) paths.push_back(path);
    return {404, "text/plain; charset=utf-8",
            absl::StrCat("not found: ", target, " (this endpoint serves ",
                         absl::StrJoin(paths, ", "), ")\n")};
  }
  if (method != "GET" && method != "HEAD") {
    return {405, "text/plain; charset=utf-8",
            absl::StrCat("method ", method, " not allowed: use GET or HEAD\n")};
  }
  return it->second();
}

absl::Status HttpEndpoint::Start(const std::string& listen) {
  absl::StatusOr<HostPort> hp = ParseHostPort(listen, 0);
  if (!hp.ok()) {
    // ParseHostPort refuses port 0; here it picks a free port.
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
  // SO_REUSEADDR (a restart may bind while old connections are in TIME_WAIT) but never
  // SO_REUSEPORT: a second process on the same port must fail, not share it.
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, ": ", ec.message(),
                     ec == asio::error::address_in_use ? " (another process has this port)" : ""));
  }
  port_ = acceptor_.local_endpoint().port();
  auto route = [this](const std::string& method, const std::string& target) {
    return Route(method, target);
  };
  asio::co_spawn(
      io_,
      [this, route]() -> asio::awaitable<void> {
        for (;;) {
          boost::system::error_code accept_error;
          asio::ip::tcp::socket socket = co_await acceptor_.async_accept(
              asio::redirect_error(asio::use_awaitable, accept_error));
          if (accept_error == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
          if (accept_error) continue;
          if (*sessions_ >= kMaxConnections) {
            socket.close(accept_error);  // busy: the client retries on its next scrape
            continue;
          }
          asio::co_spawn(io_, Serve(beast::tcp_stream(std::move(socket)), route, sessions_),
                         asio::detached);
        }
      },
      asio::detached);
  thread_ = std::thread([this] { io_.run(); });
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
}

}  // namespace rstmesh
