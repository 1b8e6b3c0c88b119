#include "security/health_server.h"

#include <grpcpp/generic/async_generic_service.h>

#include "absl/strings/str_cat.h"

namespace rstmesh {

// Every method but health: UNIMPLEMENTED. Registering it also gives the server the callback
// machinery the default health service runs on.
class HealthServer::Unimplemented : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Refuse : public grpc::ServerGenericBidiReactor {
     public:
      Refuse() { Finish({grpc::StatusCode::UNIMPLEMENTED, "only grpc.health.v1 on this port"}); }
      void OnDone() override { delete this; }
    };
    return new Refuse;
  }
};

absl::StatusOr<std::unique_ptr<HealthServer>> HealthServer::Start(const std::string& listen) {
  std::unique_ptr<HealthServer> health(new HealthServer);
  grpc::EnableDefaultHealthCheckService(true);
  health->others_ = std::make_unique<Unimplemented>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &health->port_);
  builder.RegisterCallbackGenericService(health->others_.get());
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a taken port fails, not shares
  health->server_ = builder.BuildAndStart();
  if (health->server_ == nullptr || health->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen,
                     ": another process has this port, or it is not an address of this host"));
  }
  return health;
}

HealthServer::~HealthServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

}  // namespace rstmesh
