// Packet evidence: pcap files written and read back with libpcap, merged in time order; and
// the sentences a report makes of an end's captured headers.
#include "controller/packet_evidence.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include "core/hops.h"
#include "core/pcap_file.h"

namespace rstmesh {
namespace {

PcapRecord Record(int64_t time_us, char tag) { return {time_us, std::string(40, tag), 60}; }

TEST(PcapFileTest, WrittenReadAndMergedInTimeOrder) {
  PcapFile a{DLT_LINUX_SLL, {Record(1'000'100, 'a'), Record(1'000'300, 'a')}};
  PcapFile b{DLT_LINUX_SLL, {Record(1'000'200, 'b')}};
  absl::StatusOr<std::string> bytes_a = WritePcap(a);
  absl::StatusOr<std::string> bytes_b = WritePcap(b);
  ASSERT_TRUE(bytes_a.ok() && bytes_b.ok());
  absl::StatusOr<PcapFile> back = ReadPcap(*bytes_a);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->linktype, DLT_LINUX_SLL);
  ASSERT_EQ(back->records.size(), 2u);
  EXPECT_EQ(back->records[1].time_us, 1'000'300);
  EXPECT_EQ(back->records[1].wire_length, 60u);
  EXPECT_EQ(back->records[1].bytes, std::string(40, 'a'));

  absl::StatusOr<std::string> merged = MergePcaps({*bytes_a, *bytes_b});
  ASSERT_TRUE(merged.ok()) << merged.status();
  absl::StatusOr<PcapFile> both = ReadPcap(*merged);
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->records.size(), 3u);
  EXPECT_EQ(both->records[0].bytes[0], 'a');
  EXPECT_EQ(both->records[1].bytes[0], 'b');
  EXPECT_EQ(both->records[2].bytes[0], 'a');

  EXPECT_FALSE(ReadPcap("not a pcap file at all").ok());
  PcapFile other{DLT_EN10MB, {Record(1, 'c')}};
  EXPECT_FALSE(MergePcaps({*bytes_a, *WritePcap(other)}).ok()) << "link types differ";
}

TEST(PacketEvidenceTest, HopsComeFromTheInitialTtlOfTheSender) {
  EXPECT_EQ(HopsTravelled(64), 0);
  EXPECT_EQ(HopsTravelled(61), 3);
  EXPECT_EQ(HopsTravelled(127), 1);
  EXPECT_EQ(HopsTravelled(250), 5);
}

v1::PacketSeen Seen(bool inbound, const char* flags, uint32_t ttl, uint32_t seq, uint32_t ip_id) {
  v1::PacketSeen p;
  p.set_inbound(inbound);
  p.set_flags(flags);
  p.set_ttl(ttl);
  p.set_seq(seq);
  p.set_ip_id(ip_id);
  return p;
}

TEST(PacketEvidenceTest, AResetFromCloserThanThePeerNamesTheDevice) {
  v1::Observation obs;
  obs.set_bytes_received(1024);
  v1::PacketEvidence* ev = obs.mutable_evidence();
  *ev->add_packets() = Seen(false, "S", 64, 100, 1);
  *ev->add_packets() = Seen(true, "SA", 62, 5000, 7);  // the peer: two routers away
  *ev->add_packets() = Seen(true, "R", 63, 5000 + 1 + 1024, 0);
  ev->set_device("10.0.0.1");
  ev->set_device_hop(2);
  std::vector<std::string> lines = PacketEvidence(obs, "initiator", "agent-2");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "the RST reached the initiator after 1 router hop (TTL 63, IP ID 0), agent-2's own "
            "segments after 2 router hops (TTL 62): sent by the router 2 hops from the "
            "initiator (10.0.0.1), not by agent-2; its sequence number was 1024 bytes into "
            "agent-2's stream, the initiator had read 1024");

  // From as far as the peer: consistent with the peer's host.
  ev->mutable_packets(2)->set_ttl(62);
  lines = PacketEvidence(obs, "initiator", "agent-2");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(": as far away as agent-2's host"), std::string::npos) << lines[0];

  // No packets: the reason.
  v1::Observation bare;
  bare.mutable_evidence()->set_note("unsupported: packet capture needs CAP_NET_RAW");
  EXPECT_EQ(PacketEvidence(bare, "responder", "agent-1"),
            std::vector<std::string>{"the responder: no packets (unsupported: packet capture "
                                     "needs CAP_NET_RAW)"});
  EXPECT_TRUE(PacketEvidence(v1::Observation{}, "initiator", "x").empty());
}

}  // namespace
}  // namespace rstmesh
