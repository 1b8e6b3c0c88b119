// The plaintext health port: grpc.health.v1 and nothing else (Kubernetes' gRPC probes cannot
// present certificates). SERVING for the empty service name while the server runs.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rstmesh {

class HealthServer {
 public:
  // kUnavailable if `listen` ("host:port", port 0 picks one) cannot be bound.
  static absl::StatusOr<std::unique_ptr<HealthServer>> Start(const std::string& listen);
  ~HealthServer();
  int port() const { return port_; }

 private:
  HealthServer() = default;
  class Unimplemented;
  std::unique_ptr<Unimplemented> others_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace rstmesh
