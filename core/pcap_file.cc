#include "core/pcap_file.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {

constexpr int kSnapLength = 65535;

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

}  // namespace

absl::StatusOr<std::string> WritePcap(const PcapFile& file) {
  PcapHandle dead(pcap_open_dead(file.linktype, kSnapLength));
  if (dead == nullptr) return absl::InternalError("pcap: cannot open a dead handle");
  char* buffer = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&buffer, &size);
  if (stream == nullptr) return absl::InternalError("pcap: open_memstream failed");
  pcap_dumper_t* dumper = pcap_dump_fopen(dead.get(), stream);
  if (dumper == nullptr) {
    fclose(stream);
    free(buffer);
    return absl::InternalError(absl::StrCat("pcap: ", pcap_geterr(dead.get())));
  }
  for (const PcapRecord& r : file.records) {
    pcap_pkthdr header{};
    header.ts.tv_sec = r.time_us / 1'000'000;
    header.ts.tv_usec = r.time_us % 1'000'000;
    header.caplen = static_cast<bpf_u_int32>(r.bytes.size());
    header.len = std::max<bpf_u_int32>(r.wire_length, header.caplen);
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header,
              reinterpret_cast<const u_char*>(r.bytes.data()));
  }
  pcap_dump_close(dumper);  // flushes and closes the stream: buffer and size are final
  std::string out(buffer, size);
  free(buffer);
  return out;
}

absl::StatusOr<PcapFile> ReadPcap(absl::string_view bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("pcap: empty");
  // fmemopen reads from the caller's bytes; libpcap only reads.
  FILE* stream = fmemopen(const_cast<char*>(bytes.data()), bytes.size(), "r");
  if (stream == nullptr) return absl::InternalError("pcap: fmemopen failed");
  char error[PCAP_ERRBUF_SIZE] = {0};
  PcapHandle handle(pcap_fopen_offline(stream, error));  // owns the stream now
  if (handle == nullptr) {
    fclose(stream);
    return absl::InvalidArgumentError(absl::StrCat("not a pcap file: ", error));
  }
  PcapFile file;
  file.linktype = pcap_datalink(handle.get());
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int rc = 0;
  while ((rc = pcap_next_ex(handle.get(), &header, &data)) == 1) {
    file.records.push_back({int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec,
                            std::string(reinterpret_cast<const char*>(data), header->caplen),
                            header->len});
  }
  if (rc == PCAP_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("pcap: ", pcap_geterr(handle.get())));
  }
  return file;
}

absl::StatusOr<std::string> MergePcaps(const std::vector<std::string>& files) {
  PcapFile merged;
  bool first = true;
  for (const std::string& bytes : files) {
    absl::StatusOr<PcapFile> file = ReadPcap(bytes);
    if (!file.ok()) return file.status();
    if (first) {
      merged.linktype = file->linktype;
      first = false;
    } else if (file->linktype != merged.linktype) {
      return absl::InvalidArgumentError(
          absl::StrCat("pcap: link types ", merged.linktype, " and ", file->linktype, " differ"));
    }
    for (PcapRecord& r : file->records) merged.records.push_back(std::move(r));
  }
  if (first) return absl::InvalidArgumentError("pcap: nothing to merge");
  std::stable_sort(merged.records.begin(), merged.records.end(),
                   [](const PcapRecord& a, const PcapRecord& b) { return a.time_us < b.time_us; });
  return WritePcap(merged);
}

}  // namespace rstmesh
