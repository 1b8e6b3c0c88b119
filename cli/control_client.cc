#include "cli/control_client.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "controller/plan_parser.h"

namespace rstmesh {

std::unique_ptr<v1::Control::Stub> ControlStub(const CtlOptions& o) {
  // main() checked the files; a failure here (a file gone since) shows as UNAVAILABLE.
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = ChannelCredentials(o.tls);
  grpc::ChannelArguments args = TlsChannelArguments(o.tls);
  args.SetMaxReceiveMessageSize(64 << 20);  // reports of large fleets
  return v1::Control::NewStub(grpc::CreateCustomChannel(
      o.controller, credentials.ok() ? *credentials : grpc::InsecureChannelCredentials(), args));
}

void SetDeadline(grpc::ClientContext& context, const CtlOptions& o) {
  context.set_deadline(std::chrono::system_clock::now() + o.timeout);
}

// Maps an RPC failure to the CLI's exit code with a message that says what to do.
int RpcFailed(const grpc::Status& status, const CtlOptions& o, std::ostream& err) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << "rstmeshctl: cannot reach the controller at " << o.controller << ": "
          << status.error_message()
          << "\n  Is rstmesh-controller running there? Set --controller or RSTMESH_CONTROLLER."
          << (o.tls.insecure
                  ? "\n  If it runs with mutual TLS, give --tls-ca, --tls-cert and --tls-key "
                    "instead of --insecure.\n"
                  : "\n  With TLS: is the certificate signed by the controller's CA and in "
                    "date, and does the controller's certificate name the address dialled "
                    "(else --tls-server-name)?\n");
      return kCtlUnavailable;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      err << "rstmeshctl: " << status.error_message() << "\n";
      return kCtlUnavailable;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      err << "rstmeshctl: refused by the controller: " << status.error_message() << "\n";
      return kCtlUsage;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
      err << "rstmeshctl: " << status.error_message() << "\n";
      return kCtlUsage;
    default:
      err << "rstmeshctl: controller error: " << status.error_message() << "\n";
      return kCtlUnavailable;
  }
}

std::string ToJson(const google::protobuf::Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

// The plan in a YAML/JSON file; the error is printed (naming `command`'s flag).
std::optional<v1::Plan> ReadPlanFile(const std::string& path, const char* command,
                                     std::ostream& err) {
  std::ifstream file(path);
  if (!file) {
    err << "rstmeshctl " << command << ": cannot read the plan '" << path << "'\n";
    return std::nullopt;
  }
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<v1::Plan> plan = ParsePlan(text.str());
  if (!plan.ok()) {
    err << "rstmeshctl " << command << ": invalid plan " << path << ":\n  "
        << plan.status().message() << "\n";
    return std::nullopt;
  }
  return *std::move(plan);
}

}  // namespace rstmesh
