// What the benchmarks share: time, CPU and memory readings of this process (or another one
// by pid), medians, and the Markdown they print. Benchmarks print figures and ratios against
// a baseline measured in the same run; they assert nothing about speed.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace rstmesh::bench {

using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// User + system CPU seconds of this process so far.
inline double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

// User + system CPU seconds of process `pid` so far (/proc/PID/stat), -1 if unreadable.
inline double CpuSecondsOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

// Resident set size in MiB of process `pid` (0: this one), from /proc/PID/status VmRSS.
inline double RssMiB(int pid = 0) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline std::string Fmt(double v, int decimals = 0) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// A Markdown table, printed as it is filled (long benchmarks show progress row by row).
class Table {
 public:
  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {
    std::string head = "|", rule = "|";
    for (const std::string& c : columns_) {
      head += " " + c + " |";
      rule += "---|";
    }
    std::printf("%s\n%s\n", head.c_str(), rule.c_str());
    std::fflush(stdout);
  }
  void Row(const std::vector<std::string>& cells) {
    std::string row = "|";
    for (const std::string& c : cells) row += " " + c + " |";
    std::printf("%s\n", row.c_str());
    std::fflush(stdout);
  }

 private:
  std::vector<std::string> columns_;
};

}  // namespace rstmesh::bench
