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
  // Takes a batch and calls `done` once it is stored (OK: the agent gets an ack) or cannot
  // be (an error: the agent gets a nack, holds the batch and resends it after a while).
  // Called on gRPC threads; must not block and must be thread-safe. `done` may run on any
  // thread, also before the sink returns. The observations are the stream's read buffer:
  // the sink may change them, and is done with them when it returns (protobuf reuses
  // their memory for the next read).
  using Done = std::function<void(const absl::Status&)>;
  using Observations = google::protobuf::RepeatedPtrField<v1::Observation>;
  using ObservationSink =
      std::function<void(const std::string& agent_id, Observations& batch, Done done)>;
  // A sink that stores synchronously (tests).
  static ObservationSink Synchronous(
      std::function<absl::Status(const std::string&, const std::vector<v1::Observation>&)> store);
  // How long an agent holds a batch the store could not take before resending it.
  static constexpr std::chrono::milliseconds kResendAfter{2000};
  // ... and one the store writer was too far behind to queue (kResourceExhausted).
  static constexpr std::chrono::milliseconds kBusyResendAfter{250};

  // With TLS, an agent may register only under the id its certificate names.
  AgentHubService(AgentRegistry* registry, ObservationSink sink,
                  std::chrono::milliseconds heartbeat_interval,
                  PeerPolicy policy = PeerPolicy(/*tls=*/false));

  // Where agents' schedule progress goes (on gRPC threads; must not block). Before serving.
  using ProgressSink =
      std::function<void(const std::string& agent_id, const v1::ScheduleProgress&)>;
  void set_progress_sink(ProgressSink sink) { progress_ = std::move(sink); }

  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  AgentRegistry* registry_;
  ObservationSink sink_;
  ProgressSink progress_;
  std::chrono::milliseconds heartbeat_interval_;
  PeerPolicy policy_;
};

}  // namespace rstmesh
