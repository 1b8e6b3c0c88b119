// Agent footprint: real processes (a controller and two agents, plaintext on loopback) as
// an operator runs them. Idle: RSS and CPU of each agent (and the controller) while only
// heartbeats flow. Loaded: a run of graceful_close between the two agents at a target rate,
// started with rstmeshctl, while the agents' CPU and RSS are sampled; every test connection
// touches both agents (one initiates, the other responds), so the run's tasks per second are
// the closures per second each agent handles. Prints CPU milliseconds per 1,000 closures.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait_for.h"

namespace rstmesh::bench {
namespace {

using testing::RunProcess;
using testing::Subprocess;

struct Sample {
  double cpu_s = 0;
  double rss_mib = 0;
};

Sample Read(const Subprocess& p) { return {CpuSecondsOf(p.pid()), RssMiB(p.pid())}; }

// Keeps the children's pipes drained while waiting.
void Pump(std::vector<Subprocess*> children, double seconds) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
  while (Clock::now() < until) {
    for (Subprocess* c : children) c->ReadLine(std::chrono::milliseconds(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace
}  // namespace rstmesh::bench

int main(int argc, char** argv) {
  using namespace rstmesh::bench;
  CLI::App app{"Agent footprint: idle and under a steady closure rate (Markdown)"};
  double idle_seconds = 10, rate = 1000;
  int tasks = 20000;
  app.add_option("--idle-seconds", idle_seconds, "Idle measurement")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 600.0));
  app.add_option("--rate", rate, "Closures per second each agent handles")
      ->capture_default_str()
      ->check(CLI::Range(2.0, 20000.0));
  app.add_option("--tasks", tasks, "Test connections in the loaded run")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000000));
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/rstmesh-footprint-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  int failures = 0;
  {
    // Each agent initiates half of the run's tasks: its own limit is half the rate.
    Subprocess controller({RSTMESH_CONTROLLER_BIN, "--insecure", "--listen", "127.0.0.1:0",
                           "--data-dir", dir + "/data", "--metrics-listen", "127.0.0.1:0",
                           "--max-closures-per-second", Fmt(rate / 2, 1), "--min-pair-spacing-ms",
                           "0"});
    auto line = controller.ReadLine(std::chrono::seconds(10));
    std::smatch m;
    if (!line || !std::regex_search(*line, m, std::regex(R"(grpc=(\d+))"))) {
      std::fprintf(stderr, "footprint_bench: the controller did not start: %s\n",
                   controller.err().c_str());
      return 1;
    }
    const std::string address = "127.0.0.1:" + m[1].str();
    std::vector<std::unique_ptr<Subprocess>> agents;
    for (int i = 1; i <= 2; ++i) {
      agents.push_back(std::make_unique<Subprocess>(std::vector<std::string>{
          RSTMESH_AGENT_BIN, "run", "--insecure", "--controller", address, "--id",
          absl::StrCat("agent-", i), "--listen", absl::StrCat("127.0.0.", 40 + i), "--port", "0",
          "--closed-port", "0"}));
      if (!agents.back()->ReadLine(std::chrono::seconds(10))) {
        std::fprintf(stderr, "footprint_bench: an agent did not start: %s\n",
                     agents.back()->err().c_str());
        return 1;
      }
    }
    auto ctl = [&](std::vector<std::string> args) {
      std::vector<std::string> argv = {RSTMESH_CTL_BIN, "--insecure", "--controller", address};
      argv.insert(argv.end(), args.begin(), args.end());
      return RunProcess(argv, std::chrono::minutes(30));
    };
    if (!rstmesh::testing::WaitFor(
            [&] {
              return ctl({"agents", "-o", "json"}).out.find("agent-2") != std::string::npos;
            },
            std::chrono::seconds(20), std::chrono::milliseconds(100))) {
      std::fprintf(stderr, "footprint_bench: the agents did not register\n");
      return 1;
    }
    std::vector<Subprocess*> all = {&controller, agents[0].get(), agents[1].get()};
    Pump(all, 1.0);  // registration settles

    // Idle.
    std::vector<Sample> before;
    for (Subprocess* p : all) before.push_back(Read(*p));
    const auto idle0 = Clock::now();
    Pump(all, idle_seconds);
    const double idle = Seconds(Clock::now() - idle0);
    std::printf(
        "### Footprint: idle for %.0f s, then %d closures at %.0f per second per agent "
        "(two agents, one controller, real processes)\n\n",
        idle, tasks, rate);
    Table table({"process", "idle RSS MiB", "idle CPU % of a core", "loaded RSS MiB (peak)",
                 "loaded CPU % of a core", "CPU ms per 1,000 closures"});
    std::vector<double> idle_rss, idle_cpu;
    for (size_t i = 0; i < all.size(); ++i) {
      Sample now = Read(*all[i]);
      idle_rss.push_back(now.rss_mib);
      idle_cpu.push_back(100 * (now.cpu_s - before[i].cpu_s) / idle);
    }

    // Loaded: a run of `tasks` graceful closes between the two agents.
    const std::string plan = dir + "/plan.yaml";
    std::ofstream(plan) << "name: footprint\nselector: {agents: [agent-1, agent-2]}\n"
                        << "pattern: {kind: full_mesh}\nscenarios:\n"
                        << "  - {name: graceful_close, repetitions: " << tasks / 2 << "}\n"
                        << "limits: {concurrency_per_agent: 64, pair_spacing_ms: 0}\n";
    for (size_t i = 0; i < all.size(); ++i) before[i] = Read(*all[i]);
    std::vector<double> peak(all.size(), 0);
    const auto load0 = Clock::now();
    std::atomic<bool> done{false};
    rstmesh::testing::RunResult run;
    std::thread runner([&] {
      run = ctl({"run", "-f", plan, "--wait"});
      done = true;
    });
    while (!done) {
      for (size_t i = 0; i < all.size(); ++i) {
        all[i]->ReadLine(std::chrono::milliseconds(0));
        peak[i] = std::max(peak[i], RssMiB(all[i]->pid()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    runner.join();
    const int exit_code = run.exit_code;
    const double loaded = Seconds(Clock::now() - load0);
    const double closures_per_second = tasks / loaded;
    const char* names[] = {"controller", "agent-1", "agent-2"};
    for (size_t i = 0; i < all.size(); ++i) {
      Sample now = Read(*all[i]);
      const double cpu = now.cpu_s - before[i].cpu_s;
      table.Row({names[i], Fmt(idle_rss[i], 1), Fmt(idle_cpu[i], 2), Fmt(peak[i], 1),
                 Fmt(100 * cpu / loaded, 1), Fmt(cpu * 1e6 / tasks, 1)});
    }
    std::printf(
        "\nloaded run: %d closures in %.1f s = %.0f closures/s per agent; rstmeshctl "
        "exit code %d (0: every cell PASS)\n\n",
        tasks, loaded, closures_per_second, exit_code);
    if (exit_code != 0) {
      std::fprintf(stderr, "footprint_bench: the run did not pass:\n%s%s\n", run.out.c_str(),
                   run.err.c_str());
      ++failures;
    }
  }
  std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
