// Controller ingest: observations per second through AgentHub from N simulated agents (real
// gRPC streams on loopback to a real controller), in batches as agents send them, for the
// tasks of a real run; with the SQLite store (a file in a temporary directory), with a
// PostgreSQL 15 server (started by the benchmark on loopback, a fresh database each time)
// for a controller on its own and for a replica (--replicated: each new observation also
// writes an arrival that the run's owner takes back from the database), against the same
// streams with the store off (observations and task states not written). A batch counts
// when its acknowledgement arrives, which the controller sends after storing it; "joined"
// is when the run's owner has joined both ends of every task.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "bench/observations.h"
#include "controller/controller.h"
#include "controller/forwarding_store.h"
#include "controller/run_tasks.h"
#include "rstmesh/v1/agent_hub.grpc.pb.h"
#include "tests/support/postgres_server.h"
#include "tests/support/wait_for.h"

namespace rstmesh::bench {
namespace {

// The real store, except that observations and task states are not written.
class StoreOff final : public ForwardingStore {
 public:
  explicit StoreOff(std::unique_ptr<Store> real)
      : ForwardingStore(real.get()), real_(std::move(real)) {}
  absl::Status SetTaskState(const std::string&, uint64_t, TaskState) override {
    return absl::OkStatus();
  }
  absl::StatusOr<int> InsertRows(const std::vector<ObservationRow>& rows) override {
    return static_cast<int>(rows.size());
  }

 private:
  std::unique_ptr<Store> real_;
};

class SimulatedAgent {
 public:
  SimulatedAgent(std::shared_ptr<grpc::Channel> channel, std::string id)
      : stub_(v1::AgentHub::NewStub(channel)), id_(std::move(id)) {}
  ~SimulatedAgent() { Close(); }

  bool Register(int port) {
    stream_ = stub_->Connect(&context_);
    v1::AgentMessage hello;
    v1::AgentInfo* info = hello.mutable_hello()->mutable_agent();
    info->set_id(id_);
    info->set_data_endpoint(absl::StrCat("127.0.0.1:", port));
    info->set_closed_port(port + 1);
    info->set_incarnation(absl::StrCat(id_, "-", ::getpid()));
    (*info->mutable_labels())["zone"] = "bench";
    if (!stream_->Write(hello)) return false;
    v1::ControllerMessage welcome;
    if (!stream_->Read(&welcome) || !welcome.has_welcome()) return false;
    reader_ = std::thread([this] { ReadLoop(); });
    return true;
  }

  void Add(v1::Observation obs) { outbox_.push_back(std::move(obs)); }

  // Sends everything in batches of `batch`, at most `window` unacknowledged.
  void SendAll(size_t batch, size_t window) {
    uint64_t sequence = 0;
    for (size_t at = 0; at < outbox_.size(); at += batch) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return sequence - acked_ < window || closed_; });
        if (closed_) return;
      }
      v1::AgentMessage message;
      v1::ObservationBatch* b = message.mutable_batch();
      b->set_sequence(++sequence);
      for (size_t i = at; i < std::min(outbox_.size(), at + batch); ++i) {
        *b->add_observations() = outbox_[i];
      }
      if (!stream_->Write(message)) return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return acked_ == sequence || closed_; });
  }

  void Close() {
    if (!stream_) return;
    stream_->WritesDone();
    context_.TryCancel();
    if (reader_.joinable()) reader_.join();
    stream_->Finish();
    stream_.reset();
  }

 private:
  void ReadLoop() {
    v1::ControllerMessage message;
    while (stream_->Read(&message)) {
      if (message.has_ack()) {
        std::lock_guard<std::mutex> lock(mu_);
        acked_ = std::max<uint64_t>(acked_, message.ack().sequence());
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

  std::unique_ptr<v1::AgentHub::Stub> stub_;
  std::string id_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>> stream_;
  std::thread reader_;
  std::vector<v1::Observation> outbox_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t acked_ = 0;
  bool closed_ = false;
};

enum class Backend { kSqlite, kPostgres, kReplica, kOff };

const char* NameOf(Backend b) {
  switch (b) {
    case Backend::kSqlite:
      return "SQLite";
    case Backend::kPostgres:
      return "PostgreSQL";
    case Backend::kReplica:
      return "PostgreSQL, a replica (--replicated)";
    case Backend::kOff:
      return "off";
  }
  return "";
}

struct Outcome {
  double per_second = 0;
  double joined_s = 0;  // from the first batch until the owner joined every task
  uint64_t observations = 0;
  double controller_cpu_s = 0;
  std::string error;
};

Outcome Measure(Backend backend, int agents, int repetitions, size_t batch, size_t window,
                const std::string& dir, const std::string& dsn) {
  Outcome out;
  const bool store_on = backend != Backend::kOff;
  std::filesystem::remove_all(dir);
  ControllerOptions options;
  if (backend == Backend::kPostgres || backend == Backend::kReplica) {
    options.store_dsn = dsn;
    options.replicated = backend == Backend::kReplica;
  }
  options.listen = "127.0.0.1:0";
  options.data_dir = dir;
  options.heartbeat_interval = std::chrono::milliseconds(1000);
  options.agent_timeout = std::chrono::milliseconds(60000);
  options.runs.max_closures_per_second = 0.1;  // nothing is dispatched: the agents are fake
  if (!store_on) {
    options.open_store = [](const std::string& path) -> absl::StatusOr<std::unique_ptr<Store>> {
      auto real = SqliteStore::Open(path);
      if (!real.ok()) return real.status();
      return std::unique_ptr<Store>(std::make_unique<StoreOff>(std::move(*real)));
    };
  }
  Controller controller(options);
  if (absl::Status started = controller.Start(); !started.ok()) {
    out.error = started.ToString();
    return out;
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", controller.port()),
                                     grpc::InsecureChannelCredentials());
  std::vector<std::unique_ptr<SimulatedAgent>> sims;
  std::map<std::string, SimulatedAgent*> by_id;
  v1::Plan plan;
  for (int i = 0; i < agents; ++i) {
    const std::string id = absl::StrCat("sim-", i);
    sims.push_back(std::make_unique<SimulatedAgent>(channel, id));
    if (!sims.back()->Register(20000 + 2 * i)) {
      out.error = "a simulated agent could not register";
      return out;
    }
    by_id[id] = sims.back().get();
    plan.mutable_selector()->add_agents(id);
  }
  // The controller welcomes an agent just before it registers it: wait for the registry.
  if (!testing::WaitFor(
          [&] { return controller.registry().Agents().size() == static_cast<size_t>(agents); },
          std::chrono::seconds(20))) {
    out.error = "the simulated agents did not all register";
    return out;
  }
  plan.set_name("ingest");
  plan.mutable_pattern()->set_kind(v1::PATTERN_KIND_FULL_MESH);
  v1::ScenarioRun* run = plan.add_scenarios();
  run->set_name("graceful_close");
  run->set_repetitions(repetitions);
  absl::StatusOr<std::string> run_id = controller.runs().StartRun(plan);
  if (!run_id.ok()) {
    out.error = run_id.status().ToString();
    return out;
  }
  absl::StatusOr<std::optional<RunRecord>> record = controller.store().GetRun(*run_id);
  if (!record.ok() || !record->has_value()) {
    out.error = "the run is not in the store";
    return out;
  }
  // Its tasks derive from the plan and the agents (they are not stored one by one).
  const uint32_t number = static_cast<uint32_t>(std::stoul(run_id->substr(4)));  // "run-N"
  const RunTasks tasks(**record, number, {});
  for (uint32_t i = 0; i < tasks.size(); ++i) {
    const uint64_t task_id = tasks.TaskIdAt(i);
    by_id.at(tasks.Agent(tasks.SourceAt(i)))
        ->Add(Realistic(task_id, v1::ROLE_INITIATOR, "127.0.0.2:7402"));
    by_id.at(tasks.Agent(tasks.TargetAt(i)))
        ->Add(Realistic(task_id, v1::ROLE_RESPONDER, "127.0.0.1:40000"));
    out.observations += 2;
  }
  const double cpu0 = CpuSeconds();
  const auto t0 = Clock::now();
  std::vector<std::thread> senders;
  for (auto& sim : sims) {
    senders.emplace_back([&, s = sim.get()] { s->SendAll(batch, window); });
  }
  for (std::thread& t : senders) t.join();
  const double elapsed = Seconds(Clock::now() - t0);
  if (store_on) {
    // Both ends of every task joined by the run's owner (through the database, for a
    // replica).
    const bool joined = testing::WaitFor(
        [&] {
          absl::StatusOr<RunProgress> p = controller.runs().Progress(*run_id);
          return p.ok() && p->done == tasks.size();
        },
        std::chrono::seconds(300), std::chrono::milliseconds(20));
    out.joined_s = Seconds(Clock::now() - t0);
    if (!joined) out.error = "the run's owner did not join every task";
  }
  out.controller_cpu_s = CpuSeconds() - cpu0;  // the agents' side included (same process)
  out.per_second = out.observations / elapsed;
  if (store_on && out.error.empty()) {  // every acknowledged observation is in the store
    auto stored = controller.store().GetObservations(*run_id);
    if (!stored.ok() || stored->size() != out.observations) {
      out.error = absl::StrCat("stored ", stored.ok() ? stored->size() : 0, " of ",
                               out.observations, " observations");
    }
  }
  for (auto& sim : sims) sim->Close();
  controller.Stop(std::chrono::milliseconds(200));
  return out;
}

}  // namespace
}  // namespace rstmesh::bench

int main(int argc, char** argv) {
  using namespace rstmesh::bench;
  CLI::App app{"Controller ingest through AgentHub, SQLite store on against off (Markdown)"};
  int agents = 8, repetitions = 400, rounds = 3;
  size_t batch = 512, window = 8;
  app.add_option("--agents", agents, "Simulated agents (one gRPC stream each)")
      ->capture_default_str()
      ->check(CLI::Range(2, 200));
  app.add_option("--repetitions", repetitions,
                 "graceful_close repetitions per pair of the full mesh (2 observations each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--batch", batch, "Observations per batch (the agent sends up to 512)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--window", window, "Unacknowledged batches per agent")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--rounds", rounds, "Measurements per side (alternating); medians compared")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  bool postgres = true;
  app.add_flag("--postgres,!--no-postgres", postgres,
               "Also measure a PostgreSQL store, on its own and as a replica (a server this "
               "benchmark starts; skipped when PostgreSQL 15 is not installed)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  char tmpl[] = "/tmp/rstmesh-ingest-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::unique_ptr<rstmesh::testing::PostgresServer> server;
  if (postgres && rstmesh::testing::PostgresServer::Installed()) {
    server = std::make_unique<rstmesh::testing::PostgresServer>();
    if (!server->Start()) {
      std::fprintf(stderr, "ingest_bench: PostgreSQL: %s\n", server->error().c_str());
      return 1;
    }
  } else if (postgres) {
    std::fprintf(stderr, "ingest_bench: PostgreSQL 15 is not installed: its rows are skipped\n");
  }
  const uint64_t observations = 2ull * agents * (agents - 1) * repetitions;
  std::printf(
      "### Controller ingest: %d agents, %llu observations per measurement, batches of "
      "%zu, %zu in flight per agent\n\n",
      agents, static_cast<unsigned long long>(observations), batch, window);
  Table table({"store", "observations/s acknowledged (median)", "each round",
               "every task joined after, s (median)", "CPU s per 100k (process)"});
  std::vector<Backend> backends = {Backend::kSqlite, Backend::kOff};
  if (server) {
    backends.insert(backends.begin() + 1, {Backend::kPostgres, Backend::kReplica});
  }
  std::map<Backend, std::vector<double>> rate, cpu, joined;
  std::map<Backend, std::string> each;
  int failures = 0, database = 0;
  for (int r = 0; r < rounds; ++r) {
    for (Backend backend : backends) {  // alternating: the machine's load hits all alike
      std::string dsn;
      if (backend == Backend::kPostgres || backend == Backend::kReplica) {
        dsn = server->CreateDatabase(absl::StrCat("ingest", ++database));
        if (dsn.empty()) {
          std::fprintf(stderr, "ingest_bench: %s\n", server->error().c_str());
          ++failures;
          continue;
        }
      }
      Outcome o = Measure(backend, agents, repetitions, batch, window, dir + "/db", dsn);
      if (!o.error.empty()) {
        std::fprintf(stderr, "ingest_bench: %s: %s\n", NameOf(backend), o.error.c_str());
        ++failures;
        continue;
      }
      rate[backend].push_back(o.per_second);
      cpu[backend].push_back(o.controller_cpu_s * 1e5 / o.observations);
      if (backend != Backend::kOff) joined[backend].push_back(o.joined_s);
      each[backend] += (each[backend].empty() ? "" : ", ") + Fmt(o.per_second);
    }
  }
  for (Backend backend : backends) {
    table.Row({NameOf(backend), Fmt(Median(rate[backend])), each[backend],
               backend == Backend::kOff ? "-" : Fmt(Median(joined[backend]), 2),
               Fmt(Median(cpu[backend]), 2)});
  }
  const double off = Median(rate[Backend::kOff]);
  std::printf("\nSQLite / store off: %s",
              Fmt(off > 0 ? Median(rate[Backend::kSqlite]) / off : 0, 2).c_str());
  if (server) {
    const double sqlite = Median(rate[Backend::kSqlite]);
    std::printf("; PostgreSQL / SQLite: %s; replica / SQLite: %s",
                Fmt(sqlite > 0 ? Median(rate[Backend::kPostgres]) / sqlite : 0, 2).c_str(),
                Fmt(sqlite > 0 ? Median(rate[Backend::kReplica]) / sqlite : 0, 2).c_str());
  }
  std::printf("\n\n");
  server.reset();
  std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
