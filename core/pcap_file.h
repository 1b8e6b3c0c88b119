// Small pcap files in memory, written and read with libpcap: the packets of one test
// connection (the agent writes them) and both ends' merged in time order (the controller,
// for `rstmeshctl evidence`). tcpdump -r and Wireshark read them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rstmesh {

struct PcapRecord {
  int64_t time_us = 0;  // since the epoch
  std::string bytes;    // as captured (headers, up to the snap length)
  uint32_t wire_length = 0;
};

struct PcapFile {
  int linktype = 0;  // DLT_*: what a capture on "any" gives (LINUX_SLL / LINUX_SLL2)
  std::vector<PcapRecord> records;
};

absl::StatusOr<std::string> WritePcap(const PcapFile& file);
// kInvalidArgument when `bytes` is not a pcap file.
absl::StatusOr<PcapFile> ReadPcap(absl::string_view bytes);
// The records of every file in time order, in one file (the first file's link type; files
// of another link type are refused).
absl::StatusOr<std::string> MergePcaps(const std::vector<std::string>& files);

}  // namespace rstmesh
