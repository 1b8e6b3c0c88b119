// Every scenario between two real data planes on loopback, IPv4 (127.0.0.1 -> 127.0.0.2)
// and IPv6 (::1), 50 repetitions each: both ends' class, errno, stage and action must be
// what docs/scenarios.md says Linux does, with zero mismatches.
#include <gtest/gtest.h>
#include <poll.h>

#include <cerrno>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/accounting.h"
#include "core/closure.h"
#include "core/wire_header.h"
#include "tests/support/two_agents.h"

namespace rstmesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kRepetitions = 50;
constexpr int kInFlight = 10;

// docs/scenarios.md, written out independently of the catalogue's own expectations.
struct Row {
  v1::Scenario scenario;
  v1::ClosureClass initiator;
  int initiator_errno;
  std::vector<v1::Stage> initiator_stages;
  bool responder_reports;
  v1::ClosureClass responder;
  int responder_errno;
  v1::Stage responder_stage;
  v1::LocalAction responder_action;
};

const std::vector<Row>& Catalogue() {
  static const std::vector<Row> rows = {
      {v1::SCENARIO_GRACEFUL_CLOSE,
       v1::CLOSURE_FIN,
       0,
       {v1::STAGE_READ},
       true,
       v1::CLOSURE_NONE,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_FIN},
      {v1::SCENARIO_ABORTIVE_CLOSE,
       v1::CLOSURE_RST,
       ECONNRESET,
       {v1::STAGE_READ},
       true,
       v1::CLOSURE_NONE,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_RST},
      {v1::SCENARIO_UNREAD_DATA_CLOSE,
       v1::CLOSURE_RST,
       ECONNRESET,
       {v1::STAGE_READ},
       true,
       v1::CLOSURE_NONE,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_RST},
      {v1::SCENARIO_WRITE_AFTER_PEER_CLOSE,
       v1::CLOSURE_FIN_THEN_RST,
       EPIPE,
       {v1::STAGE_WRITE},
       true,
       v1::CLOSURE_NONE,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_FIN},
      {v1::SCENARIO_HALF_CLOSE,
       v1::CLOSURE_FIN,
       0,
       {v1::STAGE_READ},
       true,
       v1::CLOSURE_FIN,
       0,
       v1::STAGE_READ,
       v1::ACTION_FIN},
      {v1::SCENARIO_REFUSED,
       v1::CLOSURE_REFUSED,
       ECONNREFUSED,
       {v1::STAGE_CONNECT},
       false,
       v1::CLOSURE_UNSPECIFIED,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_UNSPECIFIED},
      {v1::SCENARIO_SILENT_DROP,
       v1::CLOSURE_RST,
       ECONNRESET,
       {v1::STAGE_READ},
       true,
       v1::CLOSURE_NONE,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_SILENT},
      {v1::SCENARIO_IDLE_HOLD,
       v1::CLOSURE_FIN,
       0,
       {v1::STAGE_READ},
       true,
       v1::CLOSURE_NONE,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_FIN},
      {v1::SCENARIO_RESET_MID_TRANSFER,
       v1::CLOSURE_RST,
       ECONNRESET,
       {v1::STAGE_WRITE, v1::STAGE_READ},
       true,
       v1::CLOSURE_NONE,
       0,
       v1::STAGE_UNSPECIFIED,
       v1::ACTION_RST},
  };
  return rows;
}

struct Case {
  Row row;
  std::string source;
  std::string responder;
  std::string family;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (const Row& row : Catalogue()) {
    cases.push_back({row, "127.0.0.1", "127.0.0.2", "ipv4"});
    cases.push_back({row, "::1", "::1", "ipv6"});
  }
  return cases;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << FindScenario(c.row.scenario)->name << " over " << c.family;
}

class ScenarioTest : public ::testing::TestWithParam<Case> {};

// The catalogue's quick-run parameters: 50 runs of each scenario stay short.
v1::ScenarioParams ParamsFor(v1::Scenario scenario) { return FindScenario(scenario)->demo; }

TEST_P(ScenarioTest, BothEndsSeeWhatLinuxPredicts) {
  const Case& c = GetParam();
  const Row& row = c.row;
  if (row.scenario == v1::SCENARIO_SILENT_DROP && !testing::CanUseTcpRepair()) {
    GTEST_SKIP() << "silent_drop needs CAP_NET_ADMIN (TCP_REPAIR); run the tests as root";
  }
  testing::TwoAgents agents(c.source, c.responder);
  ASSERT_TRUE(agents.started());

  std::vector<Task> tasks;
  for (int i = 0; i < kRepetitions; ++i) {
    tasks.push_back(agents.MakeTask(row.scenario, ParamsFor(row.scenario)));
  }
  std::vector<v1::Observation> initiators;
  for (size_t next = 0; next < tasks.size();) {
    std::vector<std::future<v1::Observation>> batch;
    for (int k = 0; k < kInFlight && next < tasks.size(); ++k) {
      batch.push_back(agents.Run(tasks[next++]));
    }
    for (auto& f : batch) {
      ASSERT_EQ(f.wait_for(seconds(60)), std::future_status::ready) << "an initiator hung";
      initiators.push_back(f.get());
    }
  }

  int mismatches = 0;
  for (v1::Observation& init : initiators) {
    SCOPED_TRACE(absl::StrCat("task ", init.task_id(), ": ", init.ShortDebugString()));
    bool ok = true;
    ok &= init.role() == v1::ROLE_INITIATOR;
    EXPECT_EQ(ClosureName(init.observed()), ClosureName(row.initiator));
    ok &= init.observed() == row.initiator;
    EXPECT_EQ(init.error_number(), row.initiator_errno) << init.error_name();
    ok &= init.error_number() == row.initiator_errno;
    bool stage_ok = std::find(row.initiator_stages.begin(), row.initiator_stages.end(),
                              init.stage()) != row.initiator_stages.end();
    EXPECT_TRUE(stage_ok) << "stage " << StageName(init.stage());
    ok &= stage_ok;
    EXPECT_TRUE(init.matched()) << init.detail();
    ok &= init.matched();
    // The snapshot shows the socket as the call that ended the test found it: a pending
    // error (reset, refusal) as POLLERR, a FIN as POLLRDHUP without POLLERR.
    const uint32_t revents = init.tcp_info().poll_revents();
    if (init.error_number() == ECONNRESET || init.error_number() == ECONNREFUSED) {
      EXPECT_NE(revents & POLLERR, 0u) << "revents " << revents;
      ok &= (revents & POLLERR) != 0;
    }
    if (init.observed() == v1::CLOSURE_FIN) {
      EXPECT_EQ(revents & POLLERR, 0u) << "revents " << revents;
      EXPECT_NE(revents & POLLRDHUP, 0u) << "revents " << revents;
      ok &= (revents & POLLERR) == 0 && (revents & POLLRDHUP) != 0;
    }

    std::optional<v1::Observation> resp = agents.ResponderObservation(
        init.task_id(), row.responder_reports ? seconds(10) : milliseconds(0));
    if (!row.responder_reports) {
      EXPECT_FALSE(resp.has_value()) << "the responder should never see this connection";
      ok &= !resp.has_value();
    } else {
      ASSERT_TRUE(resp.has_value()) << "no responder observation";
      EXPECT_EQ(resp->role(), v1::ROLE_RESPONDER);
      EXPECT_EQ(ClosureName(resp->observed()), ClosureName(row.responder));
      EXPECT_EQ(resp->error_number(), row.responder_errno);
      EXPECT_EQ(StageName(resp->stage()), StageName(row.responder_stage));
      EXPECT_EQ(ActionName(resp->action()), ActionName(row.responder_action));
      EXPECT_TRUE(resp->matched()) << resp->detail();
      ok &= resp->observed() == row.responder && resp->error_number() == row.responder_errno &&
            resp->stage() == row.responder_stage && resp->action() == row.responder_action &&
            resp->matched();
      // Byte accounting: bytes acknowledged by the responder's kernel but never read by it.
      JoinByteAccounting(init, *resp);
      if (row.scenario == v1::SCENARIO_UNREAD_DATA_CLOSE) {
        const uint64_t request = 4096;  // the scenario's default
        EXPECT_EQ(resp->bytes_received(), kHeaderSize);
        EXPECT_EQ(init.bytes_sent(), kHeaderSize + request);
        EXPECT_EQ(init.tcp_info().bytes_acked(), kHeaderSize + request);
        EXPECT_EQ(init.bytes_lost(), request) << "the unread request must be reported lost";
        ok &= init.bytes_lost() == request;
      }
      if (row.scenario == v1::SCENARIO_RESET_MID_TRANSFER) {
        // The catalogue's data column: bytes I wrote vs bytes R read. What R's kernel
        // acknowledged beyond what R read is lost; an unread tail whose ACK was still delayed
        // when the RST left was never acknowledged, so it is not counted as acked-then-lost.
        const uint64_t read_limit = 64 * 1024;  // the scenario's default
        EXPECT_EQ(resp->bytes_received(), kHeaderSize + read_limit);
        EXPECT_EQ(init.peer_bytes_read(), kHeaderSize + read_limit);
        EXPECT_GT(init.bytes_sent(), resp->bytes_received()) << "the reset landed mid-transfer";
        EXPECT_GE(init.bytes_sent(), init.tcp_info().bytes_acked());
        EXPECT_GE(init.tcp_info().bytes_acked(), resp->bytes_received());
        EXPECT_EQ(init.bytes_lost(), init.tcp_info().bytes_acked() - resp->bytes_received());
        ok &= init.bytes_sent() > resp->bytes_received() &&
              init.tcp_info().bytes_acked() >= resp->bytes_received();
      }
    }
    if (!ok) ++mismatches;
  }
  if (!row.responder_reports) {
    EXPECT_EQ(agents.responder().counters().accepted, 0u) << "refused reached the data port";
  }
  EXPECT_EQ(initiators.size(), static_cast<size_t>(kRepetitions));
  EXPECT_EQ(mismatches, 0) << "of " << kRepetitions << " repetitions";
}

INSTANTIATE_TEST_SUITE_P(Catalogue, ScenarioTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const ScenarioDef* def = FindScenario(info.param.row.scenario);
                           return absl::StrCat(def->name, "_", info.param.family);
                         });

// Without the capability (here: the agent told it lacks it), silent_drop is reported as
// UNSUPPORTED by both ends instead of failing or faking a result.
TEST(SilentDropTest, ReportsUnsupportedWithoutCapability) {
  ResponderOptions options;
  options.allow_tcp_repair = false;
  testing::TwoAgents agents("127.0.0.1", "127.0.0.2", options);
  ASSERT_TRUE(agents.started());
  EXPECT_FALSE(agents.responder().tcp_repair());
  for (int i = 0; i < 5; ++i) {
    Task task = agents.MakeTask(v1::SCENARIO_SILENT_DROP);
    v1::Observation init = agents.Run(task).get();
    EXPECT_EQ(ClosureName(init.observed()), "UNSUPPORTED");
    EXPECT_FALSE(init.matched());
    EXPECT_TRUE(IsUnsupported(init));
    EXPECT_NE(init.detail().find("CAP_NET_ADMIN"), std::string::npos) << init.detail();
    auto resp = agents.ResponderObservation(task.task_id, seconds(10));
    ASSERT_TRUE(resp.has_value());
    EXPECT_EQ(ClosureName(resp->observed()), "UNSUPPORTED");
    EXPECT_EQ(ActionName(resp->action()), "FIN") << "without TCP_REPAIR it closes normally";
  }
}

}  // namespace
}  // namespace rstmesh
