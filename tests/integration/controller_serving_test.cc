// How the controller's gRPC port meets the tools around it: a second process cannot bind
// the same port (no SO_REUSEPORT sharing), and grpc.health.v1 answers per service.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/support/grpc_health.h"
#include "tests/support/process_fleet.h"

namespace rstmesh {
namespace {

TEST(ControllerServingTest, ASecondControllerOnTheSamePortFailsToStartAndTheFirstKeepsServing) {
  testing::ProcessFleet first;
  ASSERT_TRUE(first.StartController());
  testing::ProcessFleet second;  // its own data directory: only the port is shared
  const ::testing::AssertionResult started = second.StartController({}, first.address());
  EXPECT_FALSE(started);
  EXPECT_NE(std::string(started.message())
                .find("cannot listen on " + first.address() + ": another process has this port"),
            std::string::npos)
      << started.message();
  ASSERT_TRUE(first.StartAgent(1));
  EXPECT_TRUE(first.WaitForAgents(1));
  EXPECT_EQ(first.Ctl({"agents"}).exit_code, 0);
}

TEST(ControllerServingTest, HealthAnswersForEachServiceByName) {
  testing::ProcessFleet fleet;
  ASSERT_TRUE(fleet.StartController());
  const int port = std::stoi(fleet.address().substr(fleet.address().rfind(':') + 1));
  EXPECT_EQ(testing::HealthStatus(port, ""), 1);
  EXPECT_EQ(testing::HealthStatus(port, "rstmesh.v1.AgentHub"), 1);
  EXPECT_EQ(testing::HealthStatus(port, "rstmesh.v1.Control"), 1);
  grpc::StatusCode code = grpc::StatusCode::OK;
  EXPECT_EQ(testing::HealthStatus(port, "rstmesh.v1.Nope", &code), -1);
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace rstmesh
