// Scale: one controller (a real process, plaintext on loopback) and many agent sessions.
//  1. N simulated agents, each its own gRPC connection and AgentHub stream (this process,
//     callback API): time until all are registered; the controller's RSS and CPU while only
//     heartbeats flow (one per agent per second), against the same controller with no agent;
//     then a plan over all of them (ring: every agent initiates one graceful_close), which the
//     simulated agents answer at once with both ends' observations: time from StartRun to
//     the finished report.
//  2. A full mesh of M real agents (rstmesh-agent processes) with every scenario at its quick
//     settings (idle_hold 500 ms), end to end through rstmeshctl.
//  3. With --replicas: the full mesh over --mesh-agents simulated agents on controllers that
//     share a PostgreSQL 15 server (started here), 1 and then N replicas (--replicated), the
//     agents spread over them; the run is owned by the replica it was started at.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_util.h"
#include "bench/observations.h"
#include "rstmesh/v1/agent_hub.grpc.pb.h"
#include "rstmesh/v1/control.grpc.pb.h"
#include "tests/support/postgres_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait_for.h"

namespace rstmesh::bench {
namespace {

using testing::Subprocess;
using testing::WaitFor;
constexpr std::chrono::milliseconds kPoll(50);  // each poll is a ListAgents call

std::atomic<uint64_t> g_registered{0};
std::atomic<uint64_t> g_nacks{0};  // batches the controller refused (its store was behind)
// Observations per batch: up to 512, fewer in a large fleet so that what all agents have in
// flight stays within what the controller's store writer queues (200,000).
size_t g_batch = 512;
int g_heartbeat_ms = 0;  // asked of agents by the controller; 0: its default

class SimAgent;
// The simulated agents by id: an initiator hands its target the responder's observation.
std::map<std::string, SimAgent*> g_sims;

// One simulated agent: a stream that says hello, heartbeats when told, and runs each schedule
// it gets as fast as the controller takes its observations: each test's initiator
// observation (itself) and, when that goes out, the responder's (its target's) of a clean
// close, in batches (g_batch) with at most two unacknowledged, and its progress with each.
class SimAgent final : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  SimAgent(const std::string& address, int index)
      : id_(absl::StrCat("sim-", index)), index_(index) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection, as a real agent
    channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    stub_ = v1::AgentHub::NewStub(channel_);
    Outgoing hello;
    v1::AgentInfo* info = hello.message->mutable_hello()->mutable_agent();
    info->set_id(id_);
    info->set_data_endpoint(absl::StrCat("10.", index / 65536 % 256, ".", index / 256 % 256, ".",
                                         index % 256, ":7402"));
    info->set_closed_port(7403);
    info->set_incarnation(absl::StrCat(id_, "-", ::getpid()));
    (*info->mutable_labels())["zone"] = absl::StrCat("zone-", index % 8);
    stub_->async()->Connect(&context_, this);
    AddHold();  // writes come from outside the reactions (heartbeats)
    Write(std::move(hello));
    StartRead(&in_);
    StartCall();
  }

  // Heartbeats when its interval (the controller's welcome says it) comes round in second
  // `second`; agents' phases are spread over the interval, as their start times spread them.
  void MaybeHeartbeat(int64_t second) {
    const int64_t period = std::max<int64_t>(1, heartbeat_ms_.load() / 1000);
    if ((second + index_) % period == 0) Heartbeat();
  }

  void Heartbeat() {
    Outgoing beat;
    beat.message->mutable_heartbeat()->set_running_tasks(0);
    Write(std::move(beat));
  }

  // The responder's observation of a test that `initiator` just reported.
  void Respond(uint64_t task_id) {
    std::lock_guard<std::mutex> lock(mu_);
    responses_.push_back(task_id);
  }

  // Sends batches while fewer than kWindow are unacknowledged: responses first, then its
  // own tests (observations are built as they go out: a large schedule's would not fit).
  // Called on acks and by the fleet's pump thread (nothing here calls another agent's).
  void Pump() {
    std::vector<Outgoing> out;
    std::vector<std::pair<SimAgent*, uint64_t>> answered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Batches the controller refused (its store was behind) go again when it said.
      const auto now = Clock::now();
      while (!refused_.empty() && refused_.front().first <= now) {
        const uint64_t sequence = refused_.front().second;
        out.push_back(Batch(sequence, inflight_.at(sequence)));
        refused_.pop_front();
      }
      while (unacked_ < kWindow && (!responses_.empty() || !tests_.empty())) {
        // What is in flight is kept as (task, role), and built into observations as it goes
        // out (again, if the controller refuses it): a real agent holds its observations
        // serialized, not as a second copy of every message.
        std::vector<std::pair<uint64_t, v1::Role>>& items = inflight_[++sequence_];
        for (size_t n = 0; n < g_batch && !responses_.empty(); ++n) {
          items.emplace_back(responses_.front(), v1::ROLE_RESPONDER);
          responses_.pop_front();
        }
        while (items.size() < g_batch && !tests_.empty()) {
          const auto [task, target] = tests_.front();
          tests_.pop_front();
          items.emplace_back(task, v1::ROLE_INITIATOR);
          ++started_[task >> 32];
          if (target != nullptr) answered.emplace_back(target, task);
        }
        ++unacked_;
        out.push_back(Batch(sequence_, items));
      }
      if (!out.empty()) {
        Outgoing progress;
        progress.message->mutable_progress();  // also with no run of its own yet
        for (const auto& [number, started] : started_) {
          v1::RunProgress* p = progress.message->mutable_progress()->add_runs();
          p->set_run_number(static_cast<uint32_t>(number));
          p->set_started(started);
        }
        out.push_back(std::move(progress));
      }
    }
    for (auto& m : out) Write(std::move(m));
    for (const auto& [target, task] : answered) target->Respond(task);
  }

  void Stop() {
    context_.TryCancel();
    RemoveHold();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (in_.has_welcome()) {
      heartbeat_ms_ = in_.welcome().heartbeat_interval_ms();
      if (!welcomed_) g_registered++;  // later welcomes only change the interval
      welcomed_ = true;
    } else if (in_.has_schedule()) {
      RunSchedule(in_.schedule());
      Pump();
    } else if (in_.has_ack()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (inflight_.erase(in_.ack().sequence()) > 0) --unacked_;
      }
      Pump();
    } else if (in_.has_nack()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (inflight_.count(in_.nack().sequence()) > 0) {
        ++g_nacks;
        refused_.emplace_back(Clock::now() + std::chrono::milliseconds(in_.nack().retry_after_ms()),
                              in_.nack().sequence());
      }
    }
    StartRead(&in_);
  }

  void RunSchedule(const v1::Schedule& part) {
    const uint64_t run = part.run_number();
    std::lock_guard<std::mutex> lock(mu_);
    auto test = [&](uint64_t index, const std::string& target) {
      auto it = g_sims.find(target);
      tests_.emplace_back(run << 32 | index, it == g_sims.end() ? nullptr : it->second);
    };
    if (part.blocks_size() > 0 && part_seen_[run].insert(part.part()).second) {
      for (const v1::ScheduleBlock& block : part.blocks()) {
        for (uint32_t rep = 0; rep < std::max(1u, block.repetitions()); ++rep) {
          for (const v1::ScheduleTarget& t : part.targets()) {
            test(uint64_t{block.first_index()} + uint64_t{rep} * block.stride() + t.pair() + 1,
                 t.agent());
          }
        }
      }
    }
    for (const v1::ScheduledTask& task : part.tasks()) {
      test(task.task_id() & 0xffffffffu, part.targets(static_cast<int>(task.target())).agent());
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) queue_.clear();
    if (queue_.empty()) {
      writing_ = false;
      return;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    StartWrite(current_.message);
  }

  void OnDone(const grpc::Status&) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

 private:
  // A message to send and the arena that holds it: a batch of observations is built with a
  // few allocations, not a dozen per observation (the simulated agents share the machine
  // with the controller they measure).
  struct Outgoing {
    std::unique_ptr<google::protobuf::Arena> arena = std::make_unique<google::protobuf::Arena>();
    v1::AgentMessage* message =
        google::protobuf::Arena::CreateMessage<v1::AgentMessage>(arena.get());
  };

  static Outgoing Batch(uint64_t sequence,
                        const std::vector<std::pair<uint64_t, v1::Role>>& items) {
    Outgoing out;
    v1::ObservationBatch* batch = out.message->mutable_batch();
    batch->set_sequence(sequence);
    batch->mutable_observations()->Reserve(static_cast<int>(items.size()));
    for (const auto& [task, role] : items) {
      FillRealistic(*batch->add_observations(), task, role,
                    role == v1::ROLE_RESPONDER ? "10.255.0.1:40000" : "10.255.0.2:7402");
    }
    return out;
  }

  void Write(Outgoing message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    if (writing_) {
      queue_.push_back(std::move(message));
      return;
    }
    writing_ = true;
    current_ = std::move(message);
    StartWrite(current_.message);
  }

  std::string id_;
  const int index_;
  std::atomic<uint32_t> heartbeat_ms_{1000};
  bool welcomed_ = false;  // only touched in OnReadDone
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentHub::Stub> stub_;
  grpc::ClientContext context_;
  v1::ControllerMessage in_;
  Outgoing current_;
  std::deque<Outgoing> queue_;
  static constexpr size_t kWindow = 2;  // unacknowledged batches
  // Guarded by mu_:
  std::deque<std::pair<uint64_t, SimAgent*>> tests_;  // its own, not reported yet (and target)
  std::deque<uint64_t> responses_;                    // responders' observations to send
  size_t unacked_ = 0;
  uint64_t sequence_ = 0;
  // Sent, not acknowledged, by sequence: the (task, role) of each observation.
  std::map<uint64_t, std::vector<std::pair<uint64_t, v1::Role>>> inflight_;
  std::deque<std::pair<Clock::time_point, uint64_t>> refused_;  // nacked: resend then
  std::map<uint64_t, std::set<uint32_t>> part_seen_;            // run -> numbered parts run
  std::map<uint64_t, uint64_t> started_;                        // run -> work items started
  std::mutex mu_;
  std::condition_variable cv_;
  bool writing_ = false;
  bool done_ = false;
};

struct Usage {
  double cpu_percent = 0;
  double rss_mib = 0;
};

// The controller's CPU (% of one core) and RSS over `seconds`, sending heartbeats each
// second for `agents` meanwhile.
Usage Observe(const Subprocess& controller, std::vector<std::unique_ptr<SimAgent>>& agents,
              double seconds) {
  const double cpu0 = CpuSecondsOf(controller.pid());
  const auto t0 = Clock::now();
  auto next = t0;
  for (int64_t second = 0; Clock::now() - t0 < std::chrono::duration<double>(seconds); ++second) {
    for (auto& a : agents) a->MaybeHeartbeat(second);
    next += std::chrono::seconds(1);
    std::this_thread::sleep_until(std::min<Clock::time_point>(
        next,
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))));
  }
  const double elapsed = Seconds(Clock::now() - t0);
  return {100 * (CpuSecondsOf(controller.pid()) - cpu0) / elapsed, RssMiB(controller.pid())};
}

std::unique_ptr<Subprocess> StartController(const std::string& dir, std::string* address,
                                            std::vector<std::string> extra = {}) {
  // Simulated agents beat only while the steady state is measured: a long silence limit.
  std::vector<std::string> argv = {
      RSTMESH_CONTROLLER_BIN, "--insecure",  "--listen",           "127.0.0.1:0", "--data-dir", dir,
      "--metrics-listen",     "127.0.0.1:0", "--agent-timeout-ms", "60000"};
  if (g_heartbeat_ms > 0) {
    argv.push_back("--heartbeat-ms");
    argv.push_back(std::to_string(g_heartbeat_ms));
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto controller = std::make_unique<Subprocess>(argv);
  auto line = controller->ReadLine(std::chrono::seconds(10));
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex(R"(grpc=(\d+))"))) return nullptr;
  *address = "127.0.0.1:" + m[1].str();
  return controller;
}

size_t AgentCount(v1::Control::Stub& control) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListAgentsResponse response;
  if (!control.ListAgents(&context, {}, &response).ok()) return 0;
  return response.agents_size();
}

// Starts `plan` and follows it to its end: the last status, or an error in `*error`.
v1::RunStatus RunToEnd(v1::Control::Stub& control, const v1::Plan& plan, std::string* error) {
  v1::RunStatus last;
  grpc::ClientContext start;
  v1::StartRunRequest request;
  *request.mutable_plan() = plan;
  v1::StartRunResponse started;
  if (grpc::Status s = control.StartRun(&start, request, &started); !s.ok()) {
    *error = "StartRun: " + s.error_message();
    return last;
  }
  grpc::ClientContext watch;
  v1::WatchRunRequest w;
  w.set_run_id(started.run_id());
  w.set_interval_ms(50);
  auto reader = control.WatchRun(&watch, w);
  while (reader->Read(&last)) {
    if (last.state() != "running") break;
  }
  watch.TryCancel();
  reader->Finish();
  if (last.state() != "finished") *error = "the run ended as '" + last.state() + "'";
  return last;
}

int g_mesh_agents = 0;       // the full-mesh plan's agents (0: no such plan)
int g_mesh_repetitions = 9;  // its graceful_close repetitions per pair

int SimulatedFleet(int agents, double steady_seconds, int random_k, int repetitions,
                   const std::string& dir) {
  std::string address;
  auto controller = StartController(dir + "/sim-" + std::to_string(agents), &address);
  if (!controller) {
    std::fprintf(stderr, "scale_bench: the controller did not start\n");
    return 1;
  }
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto control = v1::Control::NewStub(channel);
  std::vector<std::unique_ptr<SimAgent>> none;
  Usage empty = Observe(*controller, none, std::min(steady_seconds, 5.0));

  g_registered = 0;
  std::vector<std::unique_ptr<SimAgent>> sims;
  const auto t0 = Clock::now();
  g_sims.clear();
  g_batch = std::clamp<size_t>(150'000 / (2 * static_cast<size_t>(agents)), 16, 512);
  for (int i = 0; i < agents; ++i) {
    sims.push_back(std::make_unique<SimAgent>(address, i));
    g_sims[absl::StrCat("sim-", i)] = sims.back().get();
  }
  const bool all = WaitFor([&] { return AgentCount(*control) == static_cast<size_t>(agents); },
                           std::chrono::seconds(300), kPoll);
  const double connect_s = Seconds(Clock::now() - t0);
  int failures = 0;
  if (!all) {
    std::fprintf(stderr, "scale_bench: only %zu of %d agents registered\n", AgentCount(*control),
                 agents);
    ++failures;
  }
  Usage steady = Observe(*controller, sims, steady_seconds);
  // Responses handed to an agent with nothing in flight go out on the next pump.
  std::atomic<bool> pumping{true};
  std::thread pump([&] {
    while (pumping) {
      for (auto& s : sims) s->Pump();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });

  // Runs `plan` to its end: its last status, the time it took and the controller's CPU.
  struct Timed {
    v1::RunStatus status;
    double seconds = 0;
    double controller_cpu_s = 0;
    double peak_rss_mib = 0;
  };
  auto timed = [&](const v1::Plan& plan) {
    Timed t;
    std::string error;
    const double cpu0 = CpuSecondsOf(controller->pid());
    const auto r0 = Clock::now();
    std::atomic<bool> running{true};
    std::thread sampler([&] {
      while (running) {
        t.peak_rss_mib = std::max(t.peak_rss_mib, RssMiB(controller->pid()));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
    t.status = RunToEnd(*control, plan, &error);
    running = false;
    sampler.join();
    t.seconds = Seconds(Clock::now() - r0);
    t.controller_cpu_s = CpuSecondsOf(controller->pid()) - cpu0;
    if (!error.empty() || t.status.pass() != t.status.total() || t.status.total() == 0) {
      std::fprintf(stderr, "scale_bench: %s over %d agents: %s (%llu of %llu pass)\n",
                   plan.name().c_str(), agents, error.c_str(),
                   static_cast<unsigned long long>(t.status.pass()),
                   static_cast<unsigned long long>(t.status.total()));
      ++failures;
    }
    return t;
  };
  v1::Plan ring;
  ring.set_name("ring over every agent");
  ring.mutable_pattern()->set_kind(v1::PATTERN_KIND_RING);
  ring.add_scenarios()->set_name("graceful_close");
  const Timed ring_run = timed(ring);
  const double rss_after_run = RssMiB(controller->pid());
  // A large run: every agent to k random peers, `repetitions` times, so that most tasks
  // wait behind the per-agent limits while the scheduler works.
  v1::Plan big;
  big.set_name("random_k over every agent");
  big.mutable_pattern()->set_kind(v1::PATTERN_KIND_RANDOM_K);
  big.mutable_pattern()->set_k(random_k);
  big.mutable_pattern()->set_seed(7);
  v1::ScenarioRun* run = big.add_scenarios();
  run->set_name("graceful_close");
  run->set_repetitions(repetitions);
  const Timed big_run = timed(big);
  // A full mesh over the first g_mesh_agents agents (the issue's audit shape; graceful_close
  // repeated in place of the nine scenarios: the controller's load is per task).
  Timed mesh_run;
  g_nacks = 0;
  const int mesh_agents = std::min(g_mesh_agents, agents);
  if (mesh_agents >= 2) {
    v1::Plan mesh;
    mesh.set_name("full mesh");
    mesh.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
    for (int i = 0; i < mesh_agents; ++i)
      mesh.mutable_selector()->add_agents(absl::StrCat("sim-", i));
    v1::ScenarioRun* s = mesh.add_scenarios();
    s->set_name("graceful_close");
    s->set_repetitions(g_mesh_repetitions);
    mesh_run = timed(mesh);
  }
  Table table({"agents", "all registered after",
               "controller RSS MiB: no agents / steady / after the ring",
               "controller CPU % of a core: no agents / steady",
               "ring plan: tasks, start to finished report",
               "random_k plan: tasks, start to finished report, controller CPU s, peak RSS MiB",
               "full mesh: agents, tasks, start to finished report, tasks/s, controller CPU s, "
               "peak RSS MiB, batches refused while the store was behind"});
  table.Row(
      {std::to_string(agents), Fmt(connect_s, 1) + " s",
       Fmt(empty.rss_mib, 1) + " / " + Fmt(steady.rss_mib, 1) + " / " + Fmt(rss_after_run, 1),
       Fmt(empty.cpu_percent, 1) + " / " + Fmt(steady.cpu_percent, 1),
       std::to_string(ring_run.status.total()) + " tasks (" +
           std::to_string(ring_run.status.pass()) + " pass), " + Fmt(ring_run.seconds, 2) + " s",
       std::to_string(big_run.status.total()) + " tasks (" + std::to_string(big_run.status.pass()) +
           " pass), " + Fmt(big_run.seconds, 2) + " s, " + Fmt(big_run.controller_cpu_s, 1) + ", " +
           Fmt(big_run.peak_rss_mib, 1),
       mesh_agents < 2
           ? std::string("-")
           : absl::StrCat(mesh_agents, ", ", mesh_run.status.total(), " (", mesh_run.status.pass(),
                          " pass), ", Fmt(mesh_run.seconds, 1), " s, ",
                          Fmt(mesh_run.status.total() / std::max(mesh_run.seconds, 1e-9)), ", ",
                          Fmt(mesh_run.controller_cpu_s, 1), ", ", Fmt(mesh_run.peak_rss_mib, 1),
                          ", ", g_nacks.load())});
  std::printf("\n");
  pumping = false;
  pump.join();
  for (auto& s : sims) s->Stop();
  if (failures > 0) {
    // What the controller said, to tell why.
    controller->Signal(SIGTERM);
    controller->Wait(std::chrono::seconds(10));
    std::fprintf(stderr, "scale_bench: the controller's log:\n%s", controller->err().c_str());
  }
  return failures;
}

// The full mesh over `agents` simulated agents on `replicas` controller replicas sharing the
// database `dsn` (agent i connects to replica i mod replicas).
int ReplicatedMesh(int agents, int replicas, const std::string& dsn, Table& table) {
  std::vector<std::unique_ptr<Subprocess>> controllers;
  std::vector<std::string> addresses;
  for (int r = 0; r < replicas; ++r) {
    std::string address;
    auto controller = StartController(
        "", &address, {"--store", dsn, "--replicated", "--replica-name", absl::StrCat("r", r)});
    if (!controller) {
      std::fprintf(stderr, "scale_bench: replica %d did not start\n", r);
      return 1;
    }
    controllers.push_back(std::move(controller));
    addresses.push_back(address);
  }
  auto control =
      v1::Control::NewStub(grpc::CreateChannel(addresses[0], grpc::InsecureChannelCredentials()));
  g_registered = 0;
  g_sims.clear();
  g_batch = std::clamp<size_t>(150'000 / (2 * static_cast<size_t>(agents)), 16, 512);
  std::vector<std::unique_ptr<SimAgent>> sims;
  for (int i = 0; i < agents; ++i) {
    sims.push_back(std::make_unique<SimAgent>(addresses[i % replicas], i));
    g_sims[absl::StrCat("sim-", i)] = sims.back().get();
  }
  int failures = 0;
  // The owner (replica 0) sees every agent, wherever its stream is.
  if (!WaitFor([&] { return AgentCount(*control) == static_cast<size_t>(agents); },
               std::chrono::seconds(300), kPoll)) {
    std::fprintf(stderr, "scale_bench: replica 0 sees %zu of %d agents\n", AgentCount(*control),
                 agents);
    ++failures;
  }
  std::atomic<bool> pumping{true};
  std::thread pump([&] {
    while (pumping) {
      for (auto& s : sims) s->Pump();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  v1::Plan mesh;
  mesh.set_name("full mesh");
  mesh.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  v1::ScenarioRun* scenario = mesh.add_scenarios();
  scenario->set_name("graceful_close");
  scenario->set_repetitions(g_mesh_repetitions);
  std::vector<double> cpu0, peak(replicas, 0);
  for (auto& c : controllers) cpu0.push_back(CpuSecondsOf(c->pid()));
  std::atomic<bool> running{true};
  std::thread sampler([&] {
    while (running) {
      for (int r = 0; r < replicas; ++r) peak[r] = std::max(peak[r], RssMiB(controllers[r]->pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  g_nacks = 0;
  std::string error;
  const auto t0 = Clock::now();
  const v1::RunStatus status = RunToEnd(*control, mesh, &error);
  const double seconds = Seconds(Clock::now() - t0);
  running = false;
  sampler.join();
  std::string cpu, rss;
  for (int r = 0; r < replicas; ++r) {
    absl::StrAppend(&cpu, r == 0 ? "" : " / ",
                    Fmt(CpuSecondsOf(controllers[r]->pid()) - cpu0[r], 1));
    absl::StrAppend(&rss, r == 0 ? "" : " / ", Fmt(peak[r], 1));
  }
  if (!error.empty() || status.pass() != status.total() || status.total() == 0) {
    std::fprintf(stderr, "scale_bench: full mesh on %d replicas: %s (%llu of %llu pass)\n",
                 replicas, error.c_str(), static_cast<unsigned long long>(status.pass()),
                 static_cast<unsigned long long>(status.total()));
    ++failures;
  }
  table.Row({std::to_string(replicas), std::to_string(agents),
             absl::StrCat(status.total(), " (", status.pass(), " pass)"), Fmt(seconds, 1),
             Fmt(status.total() / std::max(seconds, 1e-9)), cpu, rss,
             std::to_string(g_nacks.load())});
  pumping = false;
  pump.join();
  for (auto& s : sims) s->Stop();
  for (auto& c : controllers) {
    c->Signal(SIGTERM);
    c->Wait(std::chrono::seconds(30));
    if (failures > 0) std::fprintf(stderr, "scale_bench: a replica's log:\n%s", c->err().c_str());
  }
  return failures;
}

int RealMesh(int agents, const std::string& dir) {
  std::string address;
  // The run's pace is the controller's limits, as in production; these let a 2-core
  // machine run the mesh at the agents' speed.
  auto controller = StartController(
      dir + "/real", &address, {"--max-closures-per-second", "2000", "--min-pair-spacing-ms", "0"});
  if (!controller) return 1;
  std::vector<std::unique_ptr<Subprocess>> procs;
  for (int i = 0; i < agents; ++i) {
    procs.push_back(std::make_unique<Subprocess>(std::vector<std::string>{
        RSTMESH_AGENT_BIN, "run", "--insecure", "--controller", address, "--id",
        absl::StrCat("agent-", i), "--listen", absl::StrCat("127.0.1.", 10 + i), "--port", "0",
        "--closed-port", "0", "--labels", absl::StrCat("zone=z", i % 4)}));
  }
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto control = v1::Control::NewStub(channel);
  if (!WaitFor([&] { return AgentCount(*control) == static_cast<size_t>(agents); },
               std::chrono::seconds(60), kPoll)) {
    std::fprintf(stderr, "scale_bench: the real agents did not all register\n");
    return 1;
  }
  v1::Plan plan;
  plan.set_name("scale: full mesh, every scenario");
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  v1::ListScenariosResponse scenarios;
  {
    grpc::ClientContext context;
    control->ListScenarios(&context, {}, &scenarios);
  }
  for (const v1::ScenarioInfo& s : scenarios.scenarios()) {
    v1::ScenarioRun* run = plan.add_scenarios();
    run->set_name(s.name());
    if (s.name() == "idle_hold") run->mutable_params()->set_idle_ms(500);
  }
  plan.mutable_limits()->set_concurrency_per_agent(8);
  plan.mutable_limits()->set_pair_spacing_ms(0);
  std::string error;
  const double cpu0 = CpuSecondsOf(controller->pid());
  std::vector<double> agent_cpu0;
  for (auto& p : procs) agent_cpu0.push_back(CpuSecondsOf(p->pid()));
  const auto t0 = Clock::now();
  std::atomic<bool> done{false};
  double peak_controller = 0, peak_agent = 0;
  v1::RunStatus status;
  std::thread runner([&] {
    status = RunToEnd(*control, plan, &error);
    done = true;
  });
  while (!done) {
    peak_controller = std::max(peak_controller, RssMiB(controller->pid()));
    for (auto& p : procs) {
      p->ReadLine(std::chrono::milliseconds(0));
      peak_agent = std::max(peak_agent, RssMiB(p->pid()));
    }
    controller->ReadLine(std::chrono::milliseconds(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  runner.join();
  const double elapsed = Seconds(Clock::now() - t0);
  double agents_cpu = 0;
  for (size_t i = 0; i < procs.size(); ++i)
    agents_cpu += CpuSecondsOf(procs[i]->pid()) - agent_cpu0[i];
  Table table({"real agents", "tasks", "pass / deviation / inconclusive",
               "start to finished report", "tasks/s", "controller CPU s, peak RSS MiB",
               "agents' CPU s (all), peak RSS MiB (one)"});
  table.Row({std::to_string(agents), std::to_string(status.total()),
             absl::StrCat(status.pass(), " / ", status.deviation(), " / ", status.inconclusive()),
             Fmt(elapsed, 1) + " s", Fmt(status.total() / elapsed),
             Fmt(CpuSecondsOf(controller->pid()) - cpu0, 1) + ", " + Fmt(peak_controller, 1),
             Fmt(agents_cpu, 1) + ", " + Fmt(peak_agent, 1)});
  std::printf("\n");
  if (!error.empty() || status.pass() != status.total()) {
    std::fprintf(stderr, "scale_bench: full mesh of %d real agents: %s\n", agents, error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace rstmesh::bench

int main(int argc, char** argv) {
  using namespace rstmesh::bench;
  // As the controller and agent do: Debian's Abseil otherwise keeps a lock-order graph of
  // every mutex, which the simulated agents' thousands of streams make expensive.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"One controller, many agents (Markdown)"};
  std::vector<int> simulated = {1000, 5000};
  int real = 32;
  double steady = 10;
  int random_k = 8, repetitions = 9;
  app.add_option("--random-k", random_k, "Peers per agent in the large plan")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--repetitions", repetitions, "Repetitions per pair in the large plan")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--mesh-agents", g_mesh_agents,
                 "A full mesh over this many of the simulated agents (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 20000));
  app.add_option("--mesh-repetitions", g_mesh_repetitions,
                 "The full mesh's repetitions per pair (9: the nine scenarios' task count)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--agents", simulated, "Simulated agent counts, each on a fresh controller")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(2, 20000));
  app.add_option("--real-agents", real, "Real agent processes in the full mesh (0: skip)")
      ->capture_default_str()
      ->check(CLI::Range(0, 200));
  app.add_option("--steady-seconds", steady, "Heartbeat-only measurement")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 600.0));
  std::vector<int> replicas;
  app.add_option("--replicas", replicas,
                 "Also the full mesh (--mesh-agents) on PostgreSQL with this many controller "
                 "replicas, each count in turn (e.g. 1,3)")
      ->delimiter(',')
      ->check(CLI::Range(1, 8));
  app.add_option("--heartbeat-ms", g_heartbeat_ms,
                 "The controller's --heartbeat-ms (0: its default); simulated agents beat as "
                 "its welcome asks")
      ->check(CLI::Range(0, 60000));
  CLI11_PARSE(app, argc, argv);
  char tmpl[] = "/tmp/rstmesh-scale-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  int failures = 0;
  std::printf(
      "### Agent sessions on one controller (simulated agents, one connection each, "
      "heartbeat %s)\n\n",
      g_heartbeat_ms > 0 ? absl::StrCat(g_heartbeat_ms, " ms").c_str()
                         : "as the controller's default asks");
  for (int n : simulated) failures += SimulatedFleet(n, steady, random_k, repetitions, dir);
  if (real > 0) {
    std::printf("### Full mesh of real agents, every scenario (quick settings)\n\n");
    failures += RealMesh(real, dir);
  }
  if (!replicas.empty() && g_mesh_agents >= 2) {
    rstmesh::testing::PostgresServer server;
    if (!server.Start("mesh0")) {
      std::fprintf(stderr, "scale_bench: PostgreSQL: %s\n", server.error().c_str());
      return 1;
    }
    std::printf(
        "### Full mesh on controller replicas sharing a PostgreSQL 15 server (simulated "
        "agents spread over the replicas)\n\n");
    Table table({"replicas", "agents", "tasks", "start to finished report, s", "tasks/s",
                 "controller CPU s (owner / others)", "peak RSS MiB (owner / others)",
                 "batches refused while the store was behind"});
    int database = 0;
    for (int n : replicas) {
      const std::string dsn = server.CreateDatabase(absl::StrCat("mesh", ++database));
      if (dsn.empty()) {
        std::fprintf(stderr, "scale_bench: %s\n", server.error().c_str());
        return 1;
      }
      failures += ReplicatedMesh(g_mesh_agents, n, dsn, table);
    }
    std::printf("\n");
  }
  std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
