// PrometheusServer: a real Prometheus server (Debian's `prometheus`) for tests, in a temporary
// directory, on a free loopback port, scraping the given targets every second and evaluating
// the given rule files every second. Queried through its HTTP API. The process is ended by
// its pid and the directory removed with the object.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>

#include "tests/support/subprocess.h"

namespace rstmesh::testing {

class PrometheusServer {
 public:
  // `targets`: "127.0.0.1:PORT" of /metrics endpoints, scraped as job "rstmesh".
  PrometheusServer(std::vector<std::string> targets, std::vector<std::string> rule_files = {});
  ~PrometheusServer();

  // Starts it and waits until it is ready; false (with why in `error()`) otherwise.
  bool Start();
  const std::string& error() const { return error_; }
  int port() const { return port_; }

  // An instant query now: the response's "data.result" (a vector of {metric, value}), or
  // nullopt when the query failed (error() says why: Prometheus' own message).
  std::optional<google::protobuf::ListValue> Query(const std::string& expr);
  // The sum of the values of Query(expr), or nullopt when it failed or returned nothing.
  std::optional<double> Sum(const std::string& expr);
  // Every metric name Prometheus holds.
  std::vector<std::string> MetricNames();

 private:
  std::optional<google::protobuf::Struct> Get(const std::string& path);

  std::vector<std::string> targets_;
  std::vector<std::string> rule_files_;
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
  std::string error_;
};

// The percent-encoding of `text` for a URL's query string.
std::string UrlEncode(const std::string& text);

}  // namespace rstmesh::testing
