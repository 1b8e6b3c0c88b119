// gRPC server reflection v1 (grpc.reflection.v1.ServerReflection), next to the v1alpha
// service Debian's gRPC provides: tools that speak only v1 (newer grpcurl, Postman, the
// reflection clients) can list the controller's services and read their definitions.
// Answers from the process's generated descriptor pool, in memory: no reaction blocks.
#pragma once

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace rstmesh {

class ServerReflectionV1 final : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // `services`: the full names list_services answers with (this one is added).
  explicit ServerReflectionV1(std::vector<std::string> services);

  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

  // The answer to one request (exposed for tests).
  grpc::reflection::v1::ServerReflectionResponse Answer(
      const grpc::reflection::v1::ServerReflectionRequest& request) const;

 private:
  std::vector<std::string> services_;
};

}  // namespace rstmesh
