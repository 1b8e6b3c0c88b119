// grpc.health.v1.Health/Check: the serving status of `service`
// ("" for the server) at 127.0.0.1:port: 1 SERVING, 2 NOT_SERVING, -1 an error (NOT_FOUND
// for a service the server does not know: `*code` says which).
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace rstmesh::testing {

int HealthStatus(int port, const std::string& service = "", grpc::StatusCode* code = nullptr);

}  // namespace rstmesh::testing
