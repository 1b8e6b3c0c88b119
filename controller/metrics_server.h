// MetricsServer: a small HTTP/1.1 endpoint on Boost.Asio for /metrics (Prometheus text)
// and /healthz. One request per connection, bounded request size, a deadline on reading it.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/status/status.h"

namespace rstmesh {

class Controller;

class MetricsServer {
 public:
  explicit MetricsServer(Controller* controller);
  ~MetricsServer();

  // "host:port"; port 0 picks one.
  absl::Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

 private:
  void Serve(boost::asio::ip::tcp::socket socket);

  Controller* const controller_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace rstmesh
