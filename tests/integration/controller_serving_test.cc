// How the controller's gRPC port meets the tools around it: a second process cannot bind
// the same port (no SO_REUSEPORT sharing), grpc.health.v1 answers per service, and server
// reflection (v1 and v1alpha) describes every service to an independent client.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "rstmesh/v1/agent_hub.grpc.pb.h"
#include "rstmesh/v1/control.grpc.pb.h"
#include "tests/support/grpc_health.h"
#include "tests/support/node_tool.h"
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

// The sorted method names of `service` as this build defines them: what reflection must give.
std::string Methods(const std::string& service) {
  const google::protobuf::ServiceDescriptor* d =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  if (d == nullptr) return "(not linked: " + service + ")";
  std::vector<std::string> names;
  for (int i = 0; i < d->method_count(); ++i) names.push_back("\"" + d->method(i)->name() + "\"");
  std::sort(names.begin(), names.end());
  return "[" + absl::StrJoin(names, ",") + "]";
}

// grpc-js-reflection-client (npm, on @grpc/grpc-js) lists the services and, from the file
// descriptors the controller sends with their imports, every method; over v1 (which
// Debian's gRPC does not serve: ours) and over v1alpha (gRPC's). A symbol that does not exist
// is an error, not an empty answer.
TEST(ControllerServingTest, ReflectionV1AndV1alphaDescribeEveryServiceToAnIndependentClient) {
  const std::string node = testing::NodeBinary();
  const std::string client = std::string(RSTMESH_SOURCE_DIR) + "/tests/reflection";
  ASSERT_FALSE(node.empty()) << "node is not installed: run scripts/install-deps.sh";
  ASSERT_TRUE(testing::NodePackageInstalled(client, "grpc-js-reflection-client"))
      << "the reflection client's packages are missing: run scripts/install-deps.sh";
  testing::ProcessFleet fleet;
  ASSERT_TRUE(fleet.StartController());
  for (const std::string version : {"v1", "v1alpha"}) {
    SCOPED_TRACE(version);
    testing::RunResult reflected =
        testing::RunProcess({node, client + "/reflect.mjs", fleet.address(), version});
    ASSERT_EQ(reflected.exit_code, 0) << reflected.out << reflected.err;
    EXPECT_NE(reflected.out.find(
                  "\"services\":[\"grpc.health.v1.Health\",\"grpc.reflection.v1.ServerReflection\","
                  "\"grpc.reflection.v1alpha.ServerReflection\",\"rstmesh.v1.AgentHub\","
                  "\"rstmesh.v1.Control\"]"),
              std::string::npos)
        << reflected.out;
    for (const std::string service :
         {v1::Control::service_full_name(), v1::AgentHub::service_full_name(),
          grpc::health::v1::Health::service_full_name()}) {
      EXPECT_NE(reflected.out.find("\"" + service + "\":" + Methods(service)), std::string::npos)
          << service << " " << Methods(service) << "\n"
          << reflected.out;
    }
    EXPECT_EQ(reflected.out.find("\"rstmesh.v1.NoSuchService\":\"found\""), std::string::npos)
        << reflected.out;
  }
  // The v1 service names what was not found.
  testing::RunResult v1 =
      testing::RunProcess({node, client + "/reflect.mjs", fleet.address(), "v1"});
  EXPECT_NE(v1.out.find("no symbol 'rstmesh.v1.NoSuchService'"), std::string::npos) << v1.out;
}

}  // namespace
}  // namespace rstmesh
