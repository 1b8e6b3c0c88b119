// The AgentHub gRPC service (callback API): one reactor per agent stream. The first message
// must be Hello; the agent is then in the registry until its stream ends. Each observation
// batch goes to the sink (which stores it) before it is acknowledged, so an agent drops
// only what is durable.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "controller/agent_registry.h"
#include "rstmesh/v1/agent_hub.grpc.pb.h"
#include "security/tls.h"

namespace rstmesh {

// What a Hello must hold (an id, a data endpoint that parses), naming the bad field.
absl::Status CheckHello(const v1::Hello& hello);

class AgentHubService final : public v1::AgentHub::CallbackService {
 public:
  // Stores a batch. OK acknowledges it; an error leaves it unacknowledged (the agent resends
  // after reconnecting). Called on gRPC threads; must be thread-safe.
  using ObservationSink =
      std::function<absl::Status(const std::string& agent_id, const std::vector<v1::Observation>&)>;

  // With TLS, an agent may register only under the id its certificate names.
  AgentHubService(AgentRegistry* registry, ObservationSink sink,
                  std::chrono::milliseconds heartbeat_interval,
                  PeerPolicy policy = PeerPolicy(/*tls=*/false));

  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  AgentRegistry* registry_;
  ObservationSink sink_;
  std::chrono::milliseconds heartbeat_interval_;
  PeerPolicy policy_;
};

}  // namespace rstmesh
