// What rstmeshctl's commands share to call the controller's Control service: the stub, the
// deadline, the exit code and message of a failed call, JSON output, and reading a plan.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "cli/ctl.h"
#include "rstmesh/v1/control.grpc.pb.h"

namespace rstmesh {

std::unique_ptr<v1::Control::Stub> ControlStub(const CtlOptions& o);
// Each call's deadline: --timeout from now.
void SetDeadline(grpc::ClientContext& context, const CtlOptions& o);
// Maps an RPC failure to the CLI's exit code with a message that says what to do.
int RpcFailed(const grpc::Status& status, const CtlOptions& o, std::ostream& err);
// Proto field names, every field (zeros too).
std::string ToJson(const google::protobuf::Message& m, bool pretty = false);
// The plan in a YAML/JSON file; nullopt after printing why (naming `command`).
std::optional<v1::Plan> ReadPlanFile(const std::string& path, const char* command,
                                     std::ostream& err);

}  // namespace rstmesh
