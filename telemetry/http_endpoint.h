// HttpEndpoint: the small HTTP/1.1 server behind /metrics and /healthz of the controller and
// the agents, on Boost.Beast. Only the registered paths, exactly (no prefix matching);
// GET and HEAD; 404 names the known paths, 405 says Allow, 431 when a request's headers pass
// 8 KiB, 400 for what is not HTTP. Keep-alive (Prometheus reuses its connection) with a
// deadline on every read and write; at most 64 connections at once. The unread rest of a
// refused request is drained before the close, so that a client sees the answer, not a
// reset.
//
// Handle() before Start(); Start/Stop from one thread. Handlers run on the endpoint's own
// thread, one at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/status/status.h"

namespace rstmesh {

class HttpEndpoint {
 public:
  struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  using Handler = std::function<Response()>;

  static constexpr size_t kMaxHeaderBytes = 8 * 1024;
  static constexpr int kMaxConnections = 64;

  HttpEndpoint();
  ~HttpEndpoint();

  void Handle(std::string path, Handler handler);
  // `listen`: "host:port" (an IP address; port 0 picks one). kUnavailable naming the
  // address when it cannot be bound (another process has it).
  absl::Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

 private:
  class Session;
  Response Route(const std::string& method, const std::string& target) const;

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::map<std::string, Handler> handlers_;
  std::shared_ptr<int> sessions_ = std::make_shared<int>(0);  // open connections (io thread)
  std::thread thread_;
  int port_ = 0;
};

}  // namespace rstmesh
