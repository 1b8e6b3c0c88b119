// The AgentHub service on a real gRPC server (port 0), driven by a raw client stream: hello,
// batches stored before they are acknowledged, replacement by a newer stream, bad streams.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "controller/agent_hub_service.h"
#include "controller/sqlite_store.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::WaitFor;

class AgentHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rstmesh-hub-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(*SqliteStore::Open(dir_ + "/db"));
    registry_.set_on_lost([this](const std::string& id) {
      absl::MutexLock lock(&mu_);
      lost_.push_back(id);
    });
    service_ = std::make_unique<AgentHubService>(
        &registry_,
        AgentHubService::Synchronous(
            [this](const std::string&, const std::vector<v1::Observation>& batch) -> absl::Status {
              for (const v1::Observation& obs : batch) {
                if (obs.task_id() == fail_task_) return absl::UnavailableError("store down");
                if (obs.task_id() == busy_task_) {
                  return absl::ResourceExhaustedError("store: the writer is behind");
                }
              }
              return store_->InsertObservations(batch).status();
            }),
        milliseconds(500));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::AgentHub::NewStub(channel_);
  }

  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + seconds(5));
    std::filesystem::remove_all(dir_);
  }

  struct Stream {
    std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>> rw;
  };

  Stream Open() {
    Stream s;
    s.context->set_deadline(std::chrono::system_clock::now() + seconds(30));
    s.rw = stub_->Connect(s.context.get());
    return s;
  }

  static v1::AgentMessage Hello(const std::string& id) {
    v1::AgentMessage m;
    m.mutable_hello()->mutable_agent()->set_id(id);
    m.mutable_hello()->mutable_agent()->set_data_endpoint("127.0.0.2:7402");
    (*m.mutable_hello()->mutable_agent()->mutable_labels())["zone"] = "a";
    return m;
  }

  static v1::AgentMessage Batch(uint64_t sequence, uint64_t first_task, int n) {
    v1::AgentMessage m;
    m.mutable_batch()->set_sequence(sequence);
    for (int i = 0; i < n; ++i) {
      v1::Observation* obs = m.mutable_batch()->add_observations();
      obs->set_run_id("r1");
      obs->set_task_id(first_task + i);
      obs->set_role(v1::ROLE_INITIATOR);
    }
    return m;
  }

  size_t Lost() {
    absl::MutexLock lock(&mu_);
    return lost_.size();
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  AgentRegistry registry_;
  std::unique_ptr<AgentHubService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentHub::Stub> stub_;
  int port_ = 0;
  std::atomic<uint64_t> fail_task_{0};  // a batch holding this task cannot be stored
  std::atomic<uint64_t> busy_task_{0};  // ... because the store writer is behind
  absl::Mutex mu_;
  std::vector<std::string> lost_ ABSL_GUARDED_BY(mu_);
};

TEST_F(AgentHubTest, HelloRegistersAndBatchesAreStoredBeforeTheAck) {
  Stream s = Open();
  ASSERT_TRUE(s.rw->Write(Hello("node-1")));
  v1::ControllerMessage in;
  ASSERT_TRUE(s.rw->Read(&in));
  EXPECT_EQ(in.welcome().heartbeat_interval_ms(), 500u);
  ASSERT_TRUE(WaitFor([&] { return registry_.IsConnected("node-1"); }, seconds(5)));
  EXPECT_EQ(registry_.Agents().at(0).labels().at("zone"), "a");

  ASSERT_TRUE(s.rw->Write(Batch(1, 100, 5)));
  ASSERT_TRUE(s.rw->Read(&in));
  EXPECT_EQ(in.ack().sequence(), 1u);
  EXPECT_EQ(store_->GetObservations("r1")->size(), 5u) << "acked before stored";

  // A resend after a lost ack is stored once and acknowledged again.
  ASSERT_TRUE(s.rw->Write(Batch(1, 100, 5)));
  ASSERT_TRUE(s.rw->Read(&in));
  EXPECT_EQ(in.ack().sequence(), 1u);
  EXPECT_EQ(store_->GetObservations("r1")->size(), 5u);

  s.rw->WritesDone();
  EXPECT_TRUE(s.rw->Finish().ok());
  EXPECT_TRUE(WaitFor([&] { return !registry_.IsConnected("node-1") && Lost() == 1; }, seconds(5)));
}

TEST_F(AgentHubTest, UnstoredBatchIsNotAcknowledgedButRefusedWithTheCause) {
  Stream s = Open();
  ASSERT_TRUE(s.rw->Write(Hello("node-1")));
  v1::ControllerMessage in;
  ASSERT_TRUE(s.rw->Read(&in));
  fail_task_ = 1;
  ASSERT_TRUE(s.rw->Write(Batch(1, 1, 2)));
  ASSERT_TRUE(s.rw->Write(Batch(2, 3, 2)));
  ASSERT_TRUE(s.rw->Read(&in));
  ASSERT_TRUE(in.has_nack()) << "batch 1 must not be acknowledged";
  EXPECT_EQ(in.nack().sequence(), 1u);
  EXPECT_EQ(in.nack().reason(), "store down");
  EXPECT_EQ(in.nack().retry_after_ms(), AgentHubService::kResendAfter.count());
  ASSERT_TRUE(s.rw->Read(&in));
  EXPECT_EQ(in.ack().sequence(), 2u);
  EXPECT_EQ(store_->GetObservations("r1")->size(), 2u);
  s.context->TryCancel();
}

// A store writer that is only behind is soon ready again: the agent resends sooner.
TEST_F(AgentHubTest, BatchRefusedWhileTheStoreIsBehindIsResentSoon) {
  Stream s = Open();
  ASSERT_TRUE(s.rw->Write(Hello("node-1")));
  v1::ControllerMessage in;
  ASSERT_TRUE(s.rw->Read(&in));
  busy_task_ = 5;
  ASSERT_TRUE(s.rw->Write(Batch(1, 5, 1)));
  ASSERT_TRUE(s.rw->Read(&in));
  ASSERT_TRUE(in.has_nack());
  EXPECT_EQ(in.nack().retry_after_ms(), AgentHubService::kBusyResendAfter.count());
  EXPECT_LT(AgentHubService::kBusyResendAfter, AgentHubService::kResendAfter);
  s.context->TryCancel();
}

TEST_F(AgentHubTest, NewerStreamOfTheSameAgentReplacesTheOlder) {
  Stream first = Open();
  ASSERT_TRUE(first.rw->Write(Hello("node-1")));
  v1::ControllerMessage in;
  ASSERT_TRUE(first.rw->Read(&in));
  Stream second = Open();
  ASSERT_TRUE(second.rw->Write(Hello("node-1")));
  ASSERT_TRUE(second.rw->Read(&in));
  while (first.rw->Read(&in)) {
  }
  grpc::Status status = first.rw->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED) << status.error_message();
  EXPECT_TRUE(registry_.IsConnected("node-1"));
  EXPECT_EQ(Lost(), 0u) << "a replaced stream is not a lost agent";
  ASSERT_TRUE(second.rw->Write(Batch(7, 1, 1)));
  ASSERT_TRUE(second.rw->Read(&in));
  EXPECT_EQ(in.ack().sequence(), 7u);
  second.context->TryCancel();
}

TEST_F(AgentHubTest, BadStreamsAreRefusedAndTheServerKeepsServing) {
  struct Case {
    v1::AgentMessage first;
    std::string message;
  };
  v1::AgentMessage no_id = Hello("");
  v1::AgentMessage bad_endpoint = Hello("node-9");
  bad_endpoint.mutable_hello()->mutable_agent()->set_data_endpoint("[::1");
  const std::vector<Case> cases = {
      {Batch(1, 1, 1), "the first message must be hello"},
      {no_id, "hello.agent.id: required"},
      {bad_endpoint, "hello.agent.data_endpoint"},
      {v1::AgentMessage(), "the first message must be hello"},
  };
  for (const Case& c : cases) {
    Stream s = Open();
    s.rw->Write(c.first);
    v1::ControllerMessage in;
    while (s.rw->Read(&in)) {
    }
    grpc::Status status = s.rw->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find(c.message), std::string::npos) << status.error_message();
  }
  EXPECT_TRUE(registry_.Agents().empty());
  Stream ok = Open();
  ASSERT_TRUE(ok.rw->Write(Hello("node-1")));
  v1::ControllerMessage in;
  ASSERT_TRUE(ok.rw->Read(&in));
  EXPECT_TRUE(in.has_welcome());
  ok.context->TryCancel();
}

}  // namespace
}  // namespace rstmesh
