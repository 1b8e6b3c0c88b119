#include "tests/support/prometheus_server.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/support/free_port.h"
#include "tests/support/http_get.h"
#include "tests/support/wait_for.h"

namespace rstmesh::testing {
namespace {

// The body of an HTTP response, de-chunked where it came in chunks.
std::string BodyOf(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  if (end == std::string::npos) return "";
  std::string headers = response.substr(0, end);
  std::transform(headers.begin(), headers.end(), headers.begin(), ::tolower);
  std::string body = response.substr(end + 4);
  if (headers.find("transfer-encoding: chunked") == std::string::npos) return body;
  std::string out;
  size_t at = 0;
  while (at < body.size()) {
    const size_t line_end = body.find("\r\n", at);
    if (line_end == std::string::npos) break;
    const size_t size = std::strtoul(body.substr(at, line_end - at).c_str(), nullptr, 16);
    if (size == 0) break;
    out.append(body, line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  return out;
}

}  // namespace

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

PrometheusServer::PrometheusServer(std::vector<std::string> targets,
                                   std::vector<std::string> rule_files)
    : targets_(std::move(targets)), rule_files_(std::move(rule_files)) {
  char tmpl[] = "/tmp/rstmesh-prom-XXXXXX";
  dir_ = mkdtemp(tmpl);
}

PrometheusServer::~PrometheusServer() {
  if (process_ && process_->started()) {
    process_->Signal(SIGTERM);
    process_->Wait(std::chrono::seconds(10));  // killed if it does not stop by then
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool PrometheusServer::Start() {
  std::vector<std::string> quoted;
  for (const std::string& t : targets_) quoted.push_back(absl::StrCat("'", t, "'"));
  std::vector<std::string> rules;
  for (const std::string& r : rule_files_) rules.push_back(absl::StrCat("'", r, "'"));
  std::ofstream(dir_ + "/prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}\n"
      << "rule_files: [" << absl::StrJoin(rules, ", ") << "]\n"
      << "scrape_configs:\n"
      << "  - job_name: rstmesh\n"
      << "    static_configs: [{targets: [" << absl::StrJoin(quoted, ", ") << "]}]\n";
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreeLoopbackPort();
    process_ = std::make_unique<Subprocess>(std::vector<std::string>{
        "/usr/bin/prometheus", "--config.file=" + dir_ + "/prometheus.yml",
        "--storage.tsdb.path=" + dir_ + "/data",
        absl::StrCat("--web.listen-address=127.0.0.1:", port_), "--log.level=warn"});
    if (!process_->started()) {
      error_ = "cannot start /usr/bin/prometheus (Debian package prometheus)";
      return false;
    }
    if (WaitFor([&] { return HttpGet(port_, "/-/ready").find(" 200 ") != std::string::npos; },
                std::chrono::seconds(30), std::chrono::milliseconds(200))) {
      return true;
    }
    process_->Signal(SIGTERM);
    process_->Wait(std::chrono::seconds(5));
    error_ = absl::StrCat("prometheus did not become ready on port ", port_, ": ", process_->err());
  }
  return false;
}

std::optional<google::protobuf::Struct> PrometheusServer::Get(const std::string& path) {
  const std::string body = BodyOf(HttpGet(port_, path));
  google::protobuf::Struct parsed;
  if (!google::protobuf::util::JsonStringToMessage(body, &parsed).ok()) {
    error_ = absl::StrCat("not a Prometheus API response: ", body.substr(0, 400));
    return std::nullopt;
  }
  if (parsed.fields().at("status").string_value() != "success") {
    error_ = absl::StrCat(path, ": ", body.substr(0, 400));
    return std::nullopt;
  }
  return parsed;
}

std::optional<google::protobuf::ListValue> PrometheusServer::Query(const std::string& expr) {
  std::optional<google::protobuf::Struct> r = Get("/api/v1/query?query=" + UrlEncode(expr));
  if (!r) return std::nullopt;
  return r->fields().at("data").struct_value().fields().at("result").list_value();
}

std::optional<double> PrometheusServer::Sum(const std::string& expr) {
  std::optional<google::protobuf::ListValue> result = Query(expr);
  if (!result || result->values_size() == 0) return std::nullopt;
  double sum = 0;
  for (const auto& sample : result->values()) {
    const auto& value = sample.struct_value().fields().at("value").list_value();
    sum += std::strtod(value.values(1).string_value().c_str(), nullptr);
  }
  return sum;
}

std::vector<std::string> PrometheusServer::MetricNames() {
  std::vector<std::string> names;
  if (std::optional<google::protobuf::Struct> r = Get("/api/v1/label/__name__/values")) {
    for (const auto& v : r->fields().at("data").list_value().values()) {
      names.push_back(v.string_value());
    }
  }
  return names;
}

}  // namespace rstmesh::testing
