// Packet evidence from real agents on loopback. node-2 resets every test connection it
// answers (--test-reset-everything), so the tests node-1 and node-3 open to it deviate.
// node-1 and node-2 may capture packets: their deviations carry the segments that ended
// them and a pcap that tcpdump reads. node-3 runs without CAP_NET_RAW (setpriv drops it from
// its bounding set): its deviations say capture is unsupported, and nothing else changes.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rstmesh/v1/control.pb.h"
#include "tests/support/process_fleet.h"
#include "tests/support/text.h"

namespace rstmesh {
namespace {

using testing::Count;
using testing::ProcessFleet;
using testing::RunProcess;
using testing::RunResult;

class PacketCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: packet capture needs root (CAP_NET_RAW)";
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "SKIPPED: no setpriv";
    ASSERT_TRUE(fleet_.StartController());
    ASSERT_TRUE(fleet_.StartAgent(1, "a", {"--capture-packets=on"}));
    ASSERT_TRUE(fleet_.StartAgent(2, "a", {"--capture-packets=on", "--test-reset-everything"}));
    fleet_.WrapAgent(3, {"/usr/bin/setpriv", "--bounding-set=-net_raw", "--"});
    ASSERT_TRUE(fleet_.StartAgent(3, "b", {"--capture-packets=auto"}));
    ASSERT_TRUE(fleet_.WaitForAgents(3));
  }
  ProcessFleet fleet_;
};

TEST_F(PacketCaptureTest, DeviationsCarryTheirPacketsWherePermittedAndSayWhyElsewhere) {
  // The agents said what they could do.
  EXPECT_TRUE(absl::StrContains(fleet_.agent(1).err(), "packet capture: on"))
      << fleet_.agent(1).err();
  EXPECT_TRUE(absl::StrContains(fleet_.agent(3).err(),
                                "packet capture: unsupported: packet capture needs CAP_NET_RAW"))
      << fleet_.agent(3).err();

  auto run = fleet_.Ctl({"run", "-f", fleet_.WritePlan("reset.yaml", R"(
name: node-2 resets
pattern: {kind: full_mesh}
scenarios: [{name: graceful_close}]
)"),
                         "--wait"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;

  auto exported = fleet_.Ctl({"export", "run-1"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  uint64_t captured_task = 0;
  int with_packets = 0, unsupported = 0;
  for (absl::string_view line : absl::StrSplit(exported.out, '\n', absl::SkipEmpty())) {
    v1::Observation obs;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &obs).ok()) << line;
    if (obs.matched()) {
      EXPECT_FALSE(obs.has_evidence()) << "only deviations carry evidence: " << line;
      continue;
    }
    if (obs.role() != v1::ROLE_INITIATOR) continue;
    const v1::PacketEvidence& ev = obs.evidence();
    if (absl::StartsWith(obs.local(), ProcessFleet::Address(3))) {
      EXPECT_TRUE(ev.packets().empty());
      EXPECT_TRUE(absl::StartsWith(ev.note(), "unsupported: packet capture needs CAP_NET_RAW"))
          << line;
      ++unsupported;
      continue;
    }
    // node-1 -> node-2: its handshake and node-2's RST, from the same host (0 hops).
    ++with_packets;
    captured_task = obs.task_id();
    bool syn_ack = false, rst = false;
    for (const v1::PacketSeen& p : ev.packets()) {
      if (!p.inbound()) continue;
      syn_ack |= p.flags() == "SA";
      if (absl::StrContains(p.flags(), "R")) {
        rst = true;
        EXPECT_EQ(p.ttl(), 64u) << "loopback: no router on the way";
      }
    }
    EXPECT_TRUE(syn_ack && rst) << ev.ShortDebugString();
    EXPECT_FALSE(ev.pcap().empty());
    EXPECT_TRUE(ev.device().empty()) << "no probe: the RST came from as far as the peer";
  }
  EXPECT_EQ(with_packets, 1);  // node-1 -> node-2
  EXPECT_EQ(unsupported, 1);   // node-3 -> node-2

  // The report words it; the pcap reads back with tcpdump.
  auto json = fleet_.Ctl({"report", "run-1", "-o", "json"});
  EXPECT_NE(json.out.find("the RST reached the initiator after 0 router hops (TTL 64"),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("node-2's own segments after 0 router hops (TTL 64): as far away as "
                          "node-2's host"),
            std::string::npos);
  EXPECT_NE(json.out.find("the initiator: no packets (unsupported: packet capture needs "
                          "CAP_NET_RAW"),
            std::string::npos);
  auto pcap = fleet_.Ctl({"evidence", "run-1", std::to_string(captured_task)});
  ASSERT_EQ(pcap.exit_code, 0) << pcap.err;
  const std::string file = fleet_.dir() + "/task.pcap";
  std::ofstream(file, std::ios::binary) << pcap.out;
  RunResult read = RunProcess({"/usr/bin/tcpdump", "-nr", file});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_GE(Count(read.out, "Flags [R"), 1u) << read.out;
  EXPECT_NE(read.out.find(ProcessFleet::Address(1)), std::string::npos) << read.out;
}

}  // namespace
}  // namespace rstmesh
