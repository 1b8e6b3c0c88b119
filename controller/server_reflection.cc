#include "controller/server_reflection.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <set>

namespace rstmesh {
namespace {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;

void Error(ServerReflectionResponse& response, grpc::StatusCode code, std::string message) {
  response.mutable_error_response()->set_error_code(static_cast<int32_t>(code));
  response.mutable_error_response()->set_error_message(std::move(message));
}

// `file` and every file it imports, transitively, each once.
void AddFile(const pb::FileDescriptor* file, std::set<const pb::FileDescriptor*>& seen,
             ServerReflectionResponse& response) {
  if (!seen.insert(file).second) return;
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(response.mutable_file_descriptor_response()->add_file_descriptor_proto());
  for (int i = 0; i < file->dependency_count(); ++i) AddFile(file->dependency(i), seen, response);
}

// One request and its answer on a stream: read, answer, write, read again, until the client
// closes its side.
class Reactor final
    : public grpc::ServerBidiReactor<ServerReflectionRequest, ServerReflectionResponse> {
 public:
  explicit Reactor(const ServerReflectionV1* service) : service_(service) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    response_ = service_->Answer(request_);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream broke"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const ServerReflectionV1* service_;
  ServerReflectionRequest request_;
  ServerReflectionResponse response_;
};

}  // namespace

ServerReflectionV1::ServerReflectionV1(std::vector<std::string> services)
    : services_(std::move(services)) {
  services_.push_back(grpc::reflection::v1::ServerReflection::service_full_name());
}

grpc::ServerBidiReactor<ServerReflectionRequest, ServerReflectionResponse>*
ServerReflectionV1::ServerReflectionInfo(grpc::CallbackServerContext*) {
  return new Reactor(this);
}

ServerReflectionResponse ServerReflectionV1::Answer(const ServerReflectionRequest& request) const {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  std::set<const pb::FileDescriptor*> seen;
  switch (request.message_request_case()) {
    case ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case ServerReflectionRequest::kFileByFilename:
      if (const pb::FileDescriptor* file = pool->FindFileByName(request.file_by_filename())) {
        AddFile(file, seen, response);
      } else {
        Error(response, grpc::StatusCode::NOT_FOUND,
              "no file named '" + request.file_by_filename() + "'");
      }
      break;
    case ServerReflectionRequest::kFileContainingSymbol:
      if (const pb::FileDescriptor* file =
              pool->FindFileContainingSymbol(request.file_containing_symbol())) {
        AddFile(file, seen, response);
      } else {
        Error(response, grpc::StatusCode::NOT_FOUND,
              "no symbol '" + request.file_containing_symbol() + "'");
      }
      break;
    case ServerReflectionRequest::kFileContainingExtension: {
      const auto& e = request.file_containing_extension();
      const pb::Descriptor* type = pool->FindMessageTypeByName(e.containing_type());
      const pb::FieldDescriptor* extension =
          type == nullptr ? nullptr : pool->FindExtensionByNumber(type, e.extension_number());
      if (extension != nullptr) {
        AddFile(extension->file(), seen, response);
      } else {
        Error(response, grpc::StatusCode::NOT_FOUND,
              "no extension " + std::to_string(e.extension_number()) + " of '" +
                  e.containing_type() + "'");
      }
      break;
    }
    case ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const pb::Descriptor* type =
          pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        Error(response, grpc::StatusCode::NOT_FOUND,
              "no message type '" + request.all_extension_numbers_of_type() + "'");
        break;
      }
      std::vector<const pb::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const pb::FieldDescriptor* e : extensions) numbers->add_extension_number(e->number());
      break;
    }
    case ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      Error(response, grpc::StatusCode::INVALID_ARGUMENT,
            "the request asks for nothing: set one of file_by_filename, file_containing_symbol, "
            "file_containing_extension, all_extension_numbers_of_type, list_services");
      break;
  }
  return response;
}

}  // namespace rstmesh
