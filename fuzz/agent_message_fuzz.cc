// libFuzzer: what agents send the controller (AgentMessage, protobuf binary): a hello is
// checked as AgentHub checks it and registered; batches go through the run manager into a
// real SQLite store (in memory) while a run over two agents is live, and schedule progress
// reports move that run's tasks on.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>

#include "controller/agent_hub_service.h"
#include "controller/agent_registry.h"
#include "controller/run_manager.h"
#include "controller/sqlite_store.h"

namespace {

class Discard : public rstmesh::AgentConnection {
 public:
  bool Send(rstmesh::v1::ControllerMessage) override { return true; }
  void Close() override {}
};

struct World {
  std::unique_ptr<rstmesh::SqliteStore> store;
  rstmesh::AgentRegistry registry;
  std::unique_ptr<rstmesh::RunManager> runs;
  World() {
    google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in inputs is expected noise
    store = std::move(*rstmesh::SqliteStore::Open(":memory:"));
    for (const char* id : {"a", "b"}) {
      rstmesh::v1::AgentInfo info;
      info.set_id(id);
      info.set_data_endpoint(std::string("127.0.0.1:7402"));
      registry.Register(info, std::make_shared<Discard>());
    }
    runs = std::make_unique<rstmesh::RunManager>(store.get(), &registry,
                                                 rstmesh::RunManager::Options{});
    runs->Start().IgnoreError();
    rstmesh::v1::Plan plan;
    plan.mutable_pattern()->set_kind(rstmesh::v1::PATTERN_KIND_FULL_MESH);
    plan.add_scenarios()->set_name("graceful_close");
    plan.mutable_scenarios(0)->set_repetitions(50);
    runs->StartRun(plan).IgnoreError();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rstmesh;
  static World* world = new World;
  v1::AgentMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  switch (message.body_case()) {
    case v1::AgentMessage::kHello:
      if (CheckHello(message.hello()).ok()) {
        auto connection = std::make_shared<Discard>();
        world->registry.Register(message.hello().agent(), connection);
        world->registry.Unregister(message.hello().agent().id(), connection.get());
      }
      break;
    case v1::AgentMessage::kHeartbeat:
      world->registry.Heartbeat("a");
      break;
    case v1::AgentMessage::kBatch: {
      std::vector<v1::Observation> batch(message.batch().observations().begin(),
                                         message.batch().observations().end());
      if (batch.size() <= 1000) world->runs->OnObservations("a", batch).IgnoreError();
      break;
    }
    case v1::AgentMessage::kProgress:
      world->runs->OnProgress("a", message.progress());
      break;
    default:
      break;
  }
  return 0;
}
