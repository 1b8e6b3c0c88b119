// Closure throughput: one agent pair on loopback (two real data planes in this process, with
// --threads io threads each, as `rstmesh-agent run --threads`; signed headers under a run key), per
// scenario, closures per second with K test connections in flight; against a raw-socket baseline in
// the same binary doing the same system calls without rstmesh (connect, write the header and
// request, read until the end, close with the same SO_LINGER; the responder reads, answers and
// closes the same way) with K blocking client threads and K server threads. Phases alternate
// (rstmesh, baseline, rstmesh, ...) and the medians are compared, so load from elsewhere hits both
// alike.
//
// Also prints CPU seconds per 1,000 closures (both ends, this process) for each side.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "agent/data_plane.h"
#include "bench/bench_util.h"
#include "core/run_keys.h"
#include "core/scenario.h"
#include "core/wire_header.h"

namespace rstmesh::bench {
namespace {

constexpr uint32_t kRun = 1;

struct Result {
  double per_second = 0;
  double cpu_ms_per_1000 = 0;  // CPU milliseconds (both ends) per 1,000 closures
  uint64_t closures = 0;
  uint64_t unexpected = 0;  // outcomes other than the scenario's (rstmesh: not matched)
};

Result Tally(uint64_t closures, uint64_t unexpected, double elapsed_s, double cpu_s) {
  Result r;
  r.closures = closures;
  r.unexpected = unexpected;
  r.per_second = closures / elapsed_s;
  r.cpu_ms_per_1000 = closures ? cpu_s * 1e6 / closures : 0;
  return r;
}

// ---- rstmesh: two data planes ---------------------------------------------------------

class RstmeshPair {
 public:
  explicit RstmeshPair(int threads)
      : a_(threads), b_(threads), keys_(std::make_shared<KeyRing>()), key_(NewRunKey()) {
    keys_->Put(kRun, key_, KeyRing::Clock::now() + std::chrono::hours(24));
    ResponderOptions options;
    options.listen = asio::ip::make_address("127.0.0.2");
    options.data_port = 0;
    options.closed_port = 0;
    options.keys = keys_;
    options.max_connections = 65536;
    options.max_per_source = 65536;
    status_ = b_.StartResponder(options, [this](v1::Observation) { responder_seen_++; });
  }
  ~RstmeshPair() {
    a_.Stop();
    b_.Stop();
  }
  const absl::Status& status() const { return status_; }

  Result Run(v1::Scenario scenario, int in_flight, double seconds) {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> done{0}, unexpected{0};
    std::atomic<int> running{0};
    std::mutex mu;
    std::condition_variable idle;
    std::function<void()> start_one = [&] {
      Task task;
      task.task_id = (static_cast<uint64_t>(kRun) << 32) | next_task_++;
      task.scenario = scenario;
      task.peer = b_.responder()->data_endpoint();
      task.closed_port = b_.responder()->closed_endpoint().port();
      task.key = key_;
      running++;
      a_.RunTask(std::move(task), [&](v1::Observation obs) {
        done++;
        if (!obs.matched()) unexpected++;
        if (!stop.load()) {
          start_one();
        }
        if (--running == 0) {
          std::lock_guard<std::mutex> lock(mu);
          idle.notify_all();
        }
      });
    };
    const double cpu0 = CpuSeconds();
    const auto t0 = Clock::now();
    for (int i = 0; i < in_flight; ++i) start_one();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    {
      std::unique_lock<std::mutex> lock(mu);
      idle.wait(lock, [&] { return running.load() == 0; });
    }
    const double elapsed = Seconds(Clock::now() - t0);
    const double cpu = CpuSeconds() - cpu0;
    return Tally(done, unexpected, elapsed, cpu);
  }

 private:
  DataPlane a_, b_;
  std::shared_ptr<KeyRing> keys_;
  RunKey key_;
  absl::Status status_;
  std::atomic<uint64_t> responder_seen_{0};
  std::atomic<uint32_t> next_task_{1};
};

// ---- the baseline: the same system calls, blocking, one connection per thread ----------

int Socket() { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }

sockaddr_in Address(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

uint16_t PortOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

bool ReadExactly(int fd, char* buf, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

bool WriteAll(int fd, const char* buf, size_t n) {
  for (size_t sent = 0; sent < n;) {
    ssize_t w = write(fd, buf + sent, n - sent);
    if (w <= 0) return false;
    sent += static_cast<size_t>(w);
  }
  return true;
}

void AbortiveLinger(int fd) {
  linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

// A listening socket on 127.0.0.2:port (0: any port).
int Listen(uint16_t port) {
  int fd = Socket();
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in a = Address("127.0.0.2", port);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  listen(fd, 4096);
  return fd;
}

class RawPair {
 public:
  RawPair() {
    listener_ = Listen(0);
    port_ = PortOf(listener_);
    sockaddr_in a = Address("127.0.0.2", 0);
    closed_ = Socket();  // bound, never listening: connections to it are refused
    bind(closed_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    closed_port_ = PortOf(closed_);
  }
  ~RawPair() {
    close(listener_);
    close(closed_);
  }

  Result Run(v1::Scenario scenario, int in_flight, double seconds) {
    const v1::ScenarioParams params = DefaultsOf(scenario);
    const size_t request = kHeaderSize + params.request_bytes();
    const size_t response = params.response_bytes();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> done{0}, unexpected{0};
    std::vector<std::thread> servers, clients;
    if (scenario != v1::SCENARIO_REFUSED) {
      for (int i = 0; i < in_flight; ++i) {
        servers.emplace_back([&] {
          std::vector<char> buf(std::max(request, response) + 1, 'r');
          while (true) {
            int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
              if (errno == EINTR || errno == ECONNABORTED) continue;
              return;  // the listener was shut down
            }
            if (scenario == v1::SCENARIO_UNREAD_DATA_CLOSE) {
              // Read the header, then close once the request sits unread: a RST.
              int want = static_cast<int>(params.request_bytes());
              if (ReadExactly(fd, buf.data(), kHeaderSize)) {
                setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want));
                pollfd p{fd, POLLIN, 0};
                poll(&p, 1, 5000);
              }
            } else if (ReadExactly(fd, buf.data(), request)) {
              WriteAll(fd, buf.data(), response);
              if (scenario == v1::SCENARIO_ABORTIVE_CLOSE) AbortiveLinger(fd);
            }
            close(fd);
          }
        });
      }
    }
    const double cpu0 = CpuSeconds();
    const auto t0 = Clock::now();
    for (int i = 0; i < in_flight; ++i) {
      clients.emplace_back([&] {
        std::vector<char> buf(std::max<size_t>(request, 65536), 'q');
        const sockaddr_in data = Address("127.0.0.2", port_);
        const sockaddr_in closed = Address("127.0.0.2", closed_port_);
        while (!stop.load(std::memory_order_relaxed)) {
          int fd = Socket();
          bool expected = false;
          if (scenario == v1::SCENARIO_REFUSED) {
            expected =
                connect(fd, reinterpret_cast<const sockaddr*>(&closed), sizeof(closed)) != 0 &&
                errno == ECONNREFUSED;
          } else if (connect(fd, reinterpret_cast<const sockaddr*>(&data), sizeof(data)) == 0 &&
                     WriteAll(fd, buf.data(), request)) {
            ssize_t r;
            while ((r = read(fd, buf.data(), buf.size())) > 0) {
            }
            const bool reset = r < 0 && errno == ECONNRESET;
            expected = scenario == v1::SCENARIO_GRACEFUL_CLOSE ? r == 0 : reset;
          }
          close(fd);
          done++;
          if (!expected) unexpected++;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (std::thread& t : clients) t.join();
    const double elapsed = Seconds(Clock::now() - t0);
    const double cpu = CpuSeconds() - cpu0;
    shutdown(listener_, SHUT_RDWR);  // wakes the servers' accept()
    for (std::thread& t : servers) t.join();
    // A fresh listener for the next phase (a shut-down one accepts no more).
    close(listener_);
    listener_ = Listen(port_);
    return Tally(done, unexpected, elapsed, cpu);
  }

 private:
  static v1::ScenarioParams DefaultsOf(v1::Scenario scenario) {
    const ScenarioDef* def = FindScenario(scenario);
    return def ? def->defaults : v1::ScenarioParams();
  }
  int listener_ = -1, closed_ = -1;
  uint16_t port_ = 0, closed_port_ = 0;
};

}  // namespace
}  // namespace rstmesh::bench

int main(int argc, char** argv) {
  using namespace rstmesh;
  using namespace rstmesh::bench;
  CLI::App app{"rstmesh closure throughput against a raw-socket baseline (Markdown)"};
  double seconds = 2;
  int rounds = 3, in_flight = 16;
  std::vector<std::string> names = {"graceful_close", "abortive_close", "unread_data_close",
                                    "refused"};
  app.add_option("--seconds", seconds, "Length of each measured phase")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 600.0));
  app.add_option("--rounds", rounds, "Phases per side (alternating); medians are compared")
      ->capture_default_str()
      ->check(CLI::Range(1, 50));
  app.add_option("--in-flight", in_flight, "Test connections at once (baseline: threads)")
      ->capture_default_str()
      ->check(CLI::Range(1, 512));
  std::vector<int> threads = {1, 2};
  app.add_option("--threads", threads,
                 "io threads per agent (rstmesh-agent run --threads), each measured")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  std::string only;
  app.add_option("--only", only, "Measure one side only (for profiling)")
      ->check(CLI::IsMember({"rstmesh", "baseline"}));
  app.add_option("--scenarios", names, "Scenarios by name")->delimiter(',')->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::vector<v1::Scenario> scenarios;
  for (const std::string& name : names) {
    const ScenarioDef* def = FindScenario(absl::string_view(name));
    if (def == nullptr) {
      std::fprintf(stderr, "closure_bench: --scenarios: unknown scenario '%s'\n", name.c_str());
      return 2;
    }
    scenarios.push_back(def->id);
  }

  RawPair raw;
  int failures = 0;
  for (int n : threads) {
    RstmeshPair pair(n);
    if (!pair.status().ok()) {
      std::fprintf(stderr, "closure_bench: responder: %s\n", pair.status().ToString().c_str());
      return 1;
    }
    std::printf(
        "### Closure throughput: %d io thread%s per agent, %d in flight, %d x %.1f s per "
        "side\n\n",
        n, n == 1 ? "" : "s", in_flight, rounds, seconds);
    Table table({"scenario", "rstmesh closures/s", "baseline closures/s", "rstmesh/baseline",
                 "rstmesh CPU ms/1000", "baseline CPU ms/1000", "unexpected (rstmesh/baseline)"});
    for (v1::Scenario scenario : scenarios) {
      std::vector<double> ours, theirs, our_cpu, their_cpu;
      uint64_t our_bad = 0, their_bad = 0, our_total = 0;
      for (int r = 0; r < rounds; ++r) {
        Result a = only != "baseline" ? pair.Run(scenario, in_flight, seconds) : Result();
        Result b = only != "rstmesh" ? raw.Run(scenario, in_flight, seconds) : Result();
        ours.push_back(a.per_second);
        theirs.push_back(b.per_second);
        our_cpu.push_back(a.cpu_ms_per_1000);
        their_cpu.push_back(b.cpu_ms_per_1000);
        our_bad += a.unexpected;
        their_bad += b.unexpected;
        our_total += a.closures;
      }
      const double ratio = Median(theirs) > 0 ? Median(ours) / Median(theirs) : 0;
      table.Row({std::string(FindScenario(scenario)->name), Fmt(Median(ours)), Fmt(Median(theirs)),
                 Fmt(ratio, 2), Fmt(Median(our_cpu), 1), Fmt(Median(their_cpu), 1),
                 std::to_string(our_bad) + "/" + std::to_string(their_bad)});
      if ((only != "baseline" && our_total == 0) || our_bad > 0) ++failures;
    }
    std::printf("\n");
  }
  // Not a speed check: a closure that did not end as the catalogue predicts is a bug.
  return failures == 0 ? 0 : 1;
}
