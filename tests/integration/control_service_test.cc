// The Control service over real gRPC against an in-process controller whose store holds a
// run: export streams every observation once, in order, across the pages it reads them in;
// reports and listings answer from the call worker while the store is read.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "controller/plan_parser.h"
#include "core/task_id.h"
#include "rstmesh/v1/control.grpc.pb.h"
#include "tests/support/local_controller.h"

namespace rstmesh {
namespace {

using std::chrono::seconds;

class ControlServiceTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kRun = 5;
  static constexpr uint32_t kTasks = 1300;  // 2,600 observations: three export pages

  void SetUp() override {
    ASSERT_TRUE(controller_.Start());
    stub_ = v1::Control::NewStub(
        grpc::CreateChannel(controller_.address(), grpc::InsecureChannelCredentials()));

    // A finished ring of two agents with kTasks repetitions, as a controller stored it.
    auto plan =
        ParsePlan(absl::StrCat("pattern: {kind: ring}\nscenarios: [{name: graceful_close, "
                               "repetitions: ",
                               kTasks / 2, "}]\n"));
    ASSERT_TRUE(plan.ok()) << plan.status();
    RunRecord record;
    record.run_id = absl::StrCat("run-", kRun);
    record.plan = *plan;
    for (const char* id : {"a", "b"}) record.agents.emplace_back().set_id(id);
    record.total_tasks = kTasks;
    Store& store = controller_->store();
    ASSERT_TRUE(store.CreateRun(record, {}).ok());
    std::vector<v1::Observation> batch;
    for (uint32_t index = kTasks; index >= 1; --index) {  // stored out of order
      for (v1::Role role : {v1::ROLE_RESPONDER, v1::ROLE_INITIATOR}) {
        v1::Observation& obs = batch.emplace_back();
        obs.set_run_id(record.run_id);
        obs.set_task_id(TaskId(kRun, index).raw());
        obs.set_role(role);
        obs.set_scenario(v1::SCENARIO_GRACEFUL_CLOSE);
        obs.set_stage(v1::STAGE_READ);
        obs.set_observed(role == v1::ROLE_INITIATOR ? v1::CLOSURE_FIN : v1::CLOSURE_NONE);
        obs.set_matched(true);
      }
    }
    ASSERT_TRUE(store.InsertObservations(batch).ok());
    ASSERT_TRUE(store.SetRunState(record.run_id, RunState::kFinished, 2000).ok());
  }
  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + seconds(30));
    return context;
  }

  // An export of `run_id` under way.
  struct Export {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::Observation>> reader;
  };
  Export StartExport(const std::string& run_id) {
    v1::ExportObservationsRequest request;
    request.set_run_id(run_id);
    Export e{Context(), nullptr};
    e.reader = stub_->ExportObservations(e.context.get(), request);
    return e;
  }

  testing::LocalController controller_;
  std::unique_ptr<v1::Control::Stub> stub_;
};

TEST_F(ControlServiceTest, ExportStreamsEveryObservationOnceInTaskOrder) {
  Export run = StartExport(absl::StrCat("run-", kRun));
  v1::Observation obs;
  size_t count = 0;
  std::pair<uint64_t, int> last{0, 0};
  while (run.reader->Read(&obs)) {
    const std::pair<uint64_t, int> key{obs.task_id(), obs.role()};
    ASSERT_GT(key, last) << "observation " << count << " out of order or twice";
    last = key;
    ++count;
  }
  grpc::Status status = run.reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(count, 2u * kTasks);

  Export missing = StartExport("run-99");
  EXPECT_FALSE(missing.reader->Read(&obs));
  grpc::Status not_found = missing.reader->Finish();
  EXPECT_EQ(not_found.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(not_found.error_message().find("run-99"), std::string::npos);
}

TEST_F(ControlServiceTest, ReportsAndListingsOfAStoredRunAnswerWhileExportsStream) {
  // An export left half-read holds nothing up: its next page waits for the client.
  Export half_read = StartExport(absl::StrCat("run-", kRun));
  v1::Observation first;
  ASSERT_TRUE(half_read.reader->Read(&first));

  v1::GetReportRequest request;
  request.set_run_id(absl::StrCat("run-", kRun));
  request.set_include_tasks(true);
  v1::Report report;
  auto context = Context();
  grpc::Status status = stub_->GetReport(context.get(), request, &report);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(report.status().state(), "finished");
  EXPECT_EQ(report.status().pass(), kTasks);
  EXPECT_EQ(report.tasks_size(), static_cast<int>(kTasks));
  EXPECT_FALSE(report.agent_cells_omitted());
  EXPECT_EQ(report.cells_size(), 2);  // a->b, b->a

  v1::ListRunsResponse runs;
  auto list_context = Context();
  ASSERT_TRUE(stub_->ListRuns(list_context.get(), {}, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 1);
  EXPECT_EQ(runs.runs(0).done(), kTasks);
  half_read.context->TryCancel();
}

}  // namespace
}  // namespace rstmesh
