// The agent's ControllerSession against the real AgentHub service: registration, batching,
// acknowledgement, and resend of unacknowledged batches after the stream breaks.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "agent/controller_session.h"
#include "controller/agent_hub_service.h"
#include "controller/sqlite_store.h"
#include "tests/support/wait_for.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::WaitFor;

class ControllerSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rstmesh-session-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(*SqliteStore::Open(dir_ + "/db"));
    service_ = std::make_unique<AgentHubService>(
        &registry_,
        AgentHubService::Synchronous(
            [this](const std::string&, const std::vector<v1::Observation>& batch) -> absl::Status {
              if (refuse_) return absl::UnavailableError("store down");
              return store_->InsertObservations(batch).status();
            }),
        milliseconds(200));
    grpc::ServerBuilder builder;
    service_->set_progress_sink([this](const std::string&, const v1::ScheduleProgress& p) {
      if (p.runs_size() == 1 && p.runs(0).run_number() == 7) reported_ = p.runs(0).started();
      ++progress_messages_;
    });
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    session_.reset();
    server_->Shutdown(std::chrono::system_clock::now() + seconds(5));
    std::filesystem::remove_all(dir_);
  }

  void StartSession() {
    ControllerSessionOptions options;
    options.controller = "127.0.0.1:" + std::to_string(port_);
    options.self.set_id("node-1");
    options.self.set_data_endpoint("127.0.0.2:7402");
    session_ = std::make_unique<ControllerSession>(
        options, [this](const v1::Schedule& part) { scheduled_run_ = part.run_number(); },
        [this](const v1::CancelRun&) { ++cancels_; });
    session_->set_progress([this] {
      v1::ScheduleProgress progress;
      v1::RunProgress* run = progress.add_runs();
      run->set_run_number(7);
      run->set_started(started_.load());
      return progress;
    });
    session_->Start();
  }

  static v1::Observation Obs(uint64_t task) {
    v1::Observation obs;
    obs.set_run_id("r1");
    obs.set_task_id(task);
    obs.set_role(v1::ROLE_INITIATOR);
    return obs;
  }

  size_t Stored() { return store_->GetObservations("r1")->size(); }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  AgentRegistry registry_;
  std::unique_ptr<AgentHubService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> refuse_{false};
  std::unique_ptr<ControllerSession> session_;
  std::atomic<uint32_t> scheduled_run_{0};
  std::atomic<int> cancels_{0};
  std::atomic<uint64_t> started_{0};   // what the session reports as its progress
  std::atomic<uint64_t> reported_{0};  // what the hub received last
  std::atomic<int> progress_messages_{0};
};

TEST_F(ControllerSessionTest, RegistersAndDeliversEveryObservation) {
  StartSession();
  ASSERT_TRUE(WaitFor([&] { return registry_.IsConnected("node-1"); }, seconds(10)));
  for (uint64_t i = 0; i < 2000; ++i) session_->Report(Obs(i));
  ASSERT_TRUE(WaitFor([&] { return session_->stats().acked_observations == 2000; }, seconds(20)))
      << session_->stats().acked_observations;
  EXPECT_EQ(Stored(), 2000u);
  EXPECT_EQ(session_->stats().unacked_observations, 0u);

  v1::ControllerMessage schedule;
  schedule.mutable_schedule()->set_run_number(42);
  ASSERT_TRUE(registry_.Send("node-1", schedule));
  EXPECT_TRUE(WaitFor([&] { return scheduled_run_ == 42; }, seconds(5)));
  v1::ControllerMessage cancel;
  cancel.mutable_cancel()->set_run_id("run-42");
  ASSERT_TRUE(registry_.Send("node-1", cancel));
  EXPECT_TRUE(WaitFor([&] { return cancels_ == 1; }, seconds(5)));
}

TEST_F(ControllerSessionTest, ReportsScheduleProgressWhenItChanges) {
  StartSession();
  ASSERT_TRUE(WaitFor([&] { return progress_messages_ >= 1; }, seconds(10)));
  EXPECT_EQ(reported_, 0u);
  started_ = 17;
  ASSERT_TRUE(WaitFor([&] { return reported_ == 17; }, seconds(5)));
  // Unchanged progress is not sent again (the session checks each batch interval, 50 ms).
  const int sent = progress_messages_;
  EXPECT_FALSE(WaitFor([&] { return progress_messages_ > sent; }, milliseconds(500)));
}

TEST_F(ControllerSessionTest, ResendsUnacknowledgedBatchesAfterTheStreamBreaks) {
  StartSession();
  ASSERT_TRUE(WaitFor([&] { return registry_.IsConnected("node-1"); }, seconds(10)));
  refuse_ = true;  // batches arrive but are not stored, so never acknowledged
  for (uint64_t i = 0; i < 300; ++i) session_->Report(Obs(i));
  ASSERT_TRUE(WaitFor([&] { return session_->stats().unacked_observations == 300; }, seconds(5)));
  // Break the stream from the controller's side, as a replaced or dropped stream would.
  v1::AgentInfo twin;
  twin.set_id("node-1");
  registry_.Register(twin, nullptr);
  refuse_ = false;
  ASSERT_TRUE(WaitFor([&] { return session_->stats().connects >= 2; }, seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return session_->stats().acked_observations == 300; }, seconds(20)))
      << session_->stats().acked_observations;
  EXPECT_EQ(Stored(), 300u);
  auto stored = *store_->GetObservations("r1");
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i].task_id(), i);
}

}  // namespace
}  // namespace rstmesh
