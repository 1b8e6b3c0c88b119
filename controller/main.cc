// rstmesh-controller: flags only; the work is in the controller library.
#include <malloc.h>

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "cli/command_line.h"
#include "controller/controller.h"
#include "controller/postgres_connection.h"
#include "telemetry/http_endpoint.h"

namespace {
std::string TlsMode(const rstmesh::ControllerOptions& options) {
  if (options.tls.insecure) return "off";
  return options.allow_shared_agent_certificate ? "mutual(shared-agent-certificate)" : "mutual";
}
}  // namespace

int main(int argc, char** argv) {
  // Observations are allocated on gRPC's threads and freed on the store writer's: with one
  // malloc arena per thread, each grows to its own high-water mark (64 MiB apiece, most of a
  // large run's resident memory). Two arenas serve the few threads that allocate.
  mallopt(M_ARENA_MAX, 2);
  // Debian's Abseil checks every Mutex acquisition for lock-order cycles (a debugging aid):
  // with 10,000 agent sessions that bookkeeping was most of an idle controller's CPU. Tests
  // keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{
      "rstmesh-controller: hands test plans to rstmesh agents, joins what both ends "
      "observed, keeps it durable and reports it"};
  rstmesh::StandardCommandLine(app, "rstmesh-controller");
  rstmesh::ControllerOptions options;
  std::string metrics_listen = "127.0.0.1:7401";
  int heartbeat_ms = 1000, agent_timeout_ms = 5000, agent_lease_ms = 30000;
  options.data_dir = "rstmesh-data";
  app.add_option("--listen", options.listen, "gRPC address (AgentHub and Control)")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "Directory for the SQLite store")
      ->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen, "HTTP address for /metrics and /healthz")
      ->capture_default_str();
  std::string store_file;
  if (const char* env = std::getenv("RSTMESH_STORE"); env != nullptr) options.store_dsn = env;
  app.add_option("--store", options.store_dsn,
                 "A PostgreSQL database for the store instead of --data-dir's SQLite file: "
                 "postgresql://USER@HOST:PORT/DB?sslmode=verify-full (RSTMESH_STORE)");
  app.add_option("--store-file", store_file,
                 "A file holding the --store DSN (a mounted Kubernetes Secret: the password "
                 "stays out of the process list)");
  if (const char* env = std::getenv("RSTMESH_REPLICATED"); env != nullptr) {
    options.replicated = std::string(env) == "1" || std::string(env) == "true";
  }
  app.add_flag("--replicated", options.replicated,
               "One of several controller replicas sharing the --store PostgreSQL database: "
               "each run is owned by one replica through a lease, agents and operators may "
               "use any replica (RSTMESH_REPLICATED=1)");
  if (const char* env = std::getenv("RSTMESH_REPLICA_NAME"); env != nullptr && *env != '\0') {
    options.replica_name = env;
  } else {
    char host[256] = {};
    options.replica_name =
        gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0' ? host : "controller";
  }
  app.add_option("--replica-name", options.replica_name,
                 "This replica's name as operators see it (the pod's name; "
                 "RSTMESH_REPLICA_NAME, else the host name); a random suffix makes each "
                 "process's id unique")
      ->capture_default_str();
  int run_lease_ms = static_cast<int>(options.run_lease.count());
  app.add_option("--run-lease-ms", run_lease_ms,
                 "With --replicated: a run whose owning replica has not renewed its lease for "
                 "this long (it died) is taken over by another")
      ->capture_default_str()
      ->check(CLI::Range(1000, 600000));
  bool check_config = false;
  app.add_flag("--check-config", check_config,
               "Check the flags, environment and certificate files, print the configuration "
               "and exit (0 when it would start)");
  app.add_option("--health-listen", options.health_listen,
                 "Plaintext gRPC health address for Kubernetes probes (e.g. 0.0.0.0:7404)");
  options.tls.insecure = false;
  rstmesh::AddTlsFlags(app, options.tls, rstmesh::TlsRole::kServer);
  app.add_flag("--allow-shared-agent-certificate", options.allow_shared_agent_certificate,
               "Accept the shared agent certificate (CN agent:*) for any agent id, as one "
               "Kubernetes Secret mounted by the agent DaemonSet gives every node; it still "
               "cannot call Control");
  app.add_option("--max-parallel-runs", options.runs.max_parallel_runs,
                 "Runs at once; more are refused")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--max-closures-per-second", options.runs.max_closures_per_second,
                 "Test connections each agent starts per second, at most")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 100000.0));
  int min_pair_spacing_ms = static_cast<int>(options.runs.min_pair_spacing.count());
  app.add_option("--min-pair-spacing-ms", min_pair_spacing_ms,
                 "Least time between two tests of one agent pair (plans may ask for more)")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600000));
  app.add_option("--heartbeat-ms", heartbeat_ms,
                 "Heartbeat interval asked of agents, at least (a large fleet is asked for "
                 "less, see --max-heartbeats-per-second)")
      ->capture_default_str()
      ->check(CLI::Range(50, 60000));
  app.add_option("--max-heartbeats-per-second", options.max_heartbeats_per_second,
                 "Heartbeats the whole fleet sends per second, at most: agents beat every "
                 "fleet size / this seconds (up to 10 s), so idle cost stays flat as it grows")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1000000.0));
  app.add_option("--agent-timeout-ms", agent_timeout_ms,
                 "An agent silent this long has its stream closed (it may reconnect)")
      ->capture_default_str()
      ->check(CLI::Range(200, 600000));
  app.add_option("--agent-lease-ms", agent_lease_ms,
                 "An agent unreachable this long is lost and its open tasks end as "
                 "AGENT_LOST; a reconnect within it changes nothing")
      ->capture_default_str()
      ->check(CLI::Range(1000, 3600000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << rstmesh::ParseErrorMessage(app, e, std::vector<std::string>(argv + 1, argv + argc),
                                            "rstmesh-controller");
    return 2;
  }
  if (!store_file.empty()) {
    std::ifstream in(store_file);
    std::string dsn((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.is_open()) {
      std::cerr << "rstmesh-controller: --store-file: cannot read '" << store_file << "'\n";
      return 2;
    }
    while (!dsn.empty() && (dsn.back() == '\n' || dsn.back() == '\r' || dsn.back() == ' ')) {
      dsn.pop_back();
    }
    // An empty Secret must not quietly mean the SQLite store.
    if (dsn.empty()) {
      std::cerr << "rstmesh-controller: --store-file: '" << store_file << "' is empty\n";
      return 2;
    }
    options.store_dsn = dsn;
  }
  if (options.replicated && options.store_dsn.empty()) {
    std::cerr << "rstmesh-controller: --replicated: replicas share a PostgreSQL database; "
                 "give it with --store postgresql://... or --store-file\n";
    return 2;
  }
  if (options.replica_name.empty() || options.replica_name.size() > 200) {
    std::cerr << "rstmesh-controller: --replica-name: must be 1 to 200 characters\n";
    return 2;
  }
  options.run_lease = std::chrono::milliseconds(run_lease_ms);
  if (!options.store_dsn.empty()) {
    if (absl::Status dsn = rstmesh::postgres::CheckDsn(options.store_dsn); !dsn.ok()) {
      std::cerr << "rstmesh-controller: --store: " << dsn.message()
                << "; leave it out for the SQLite store in --data-dir\n";
      return 2;
    }
  }
  const std::string store_text = options.store_dsn.empty()
                                     ? "sqlite:" + options.data_dir
                                     : rstmesh::postgres::Redacted(options.store_dsn);
  rstmesh::TlsFromEnvironment(options.tls);
  if (absl::Status tls = rstmesh::CheckTls(options.tls); !tls.ok()) {
    std::cerr << "rstmesh-controller: " << tls.message() << "\n";
    return 2;
  }
  if (options.tls.insecure && options.allow_shared_agent_certificate) {
    std::cerr << "rstmesh-controller: --allow-shared-agent-certificate needs mutual TLS "
                 "(--tls-ca, --tls-cert, --tls-key), not --insecure\n";
    return 2;
  }
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.runs.min_pair_spacing = std::chrono::milliseconds(min_pair_spacing_ms);
  if (absl::Status credentials = rstmesh::ServerCredentials(options.tls).status();
      !credentials.ok()) {
    std::cerr << "rstmesh-controller: " << credentials.message() << "\n";
    return 2;
  }
  if (check_config) {
    std::cout << "rstmesh-controller: configuration ok: listen=" << options.listen
              << " metrics=" << metrics_listen
              << " health=" << (options.health_listen.empty() ? "-" : options.health_listen)
              << " tls=" << TlsMode(options) << " store=" << store_text
              << " max_parallel_runs=" << options.runs.max_parallel_runs
              << " max_closures_per_second=" << options.runs.max_closures_per_second
              << " min_pair_spacing_ms=" << options.runs.min_pair_spacing.count()
              << " agent_lease_ms=" << agent_lease_ms
              << (options.replicated ? " replicated=" + options.replica_name +
                                           " run_lease_ms=" + std::to_string(run_lease_ms)
                                     : "")
              << std::endl;
    return 0;
  }
  options.agent_timeout = std::chrono::milliseconds(agent_timeout_ms);
  options.agent_lease = std::chrono::milliseconds(agent_lease_ms);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  rstmesh::Controller controller(options);
  if (absl::Status started = controller.Start(); !started.ok()) {
    std::cerr << "rstmesh-controller: " << started.message() << "\n";
    // 3: something it needs is unavailable (the database server); 2: its configuration.
    return absl::IsUnavailable(started) ? 3 : 2;
  }
  rstmesh::HttpEndpoint metrics;
  metrics.Handle("/metrics", [&controller] {
    return rstmesh::HttpEndpoint::Response{200, "text/plain; version=0.0.4; charset=utf-8",
                                           controller.MetricsText()};
  });
  metrics.Handle("/healthz", [] {
    return rstmesh::HttpEndpoint::Response{200, "text/plain; charset=utf-8", "ok\n"};
  });
  if (absl::Status started = metrics.Start(metrics_listen); !started.ok()) {
    std::cerr << "rstmesh-controller: --metrics-listen: " << started.message() << "\n";
    return 2;
  }
  std::cout << "rstmesh-controller: serving grpc=" << controller.port()
            << " metrics=" << metrics.port() << " health=" << controller.health_port()
            << " tls=" << TlsMode(options) << " store=" << store_text
            << (options.replicated ? " replica=" + controller.replica_id() : "") << std::endl;
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cout << "rstmesh-controller: stopping" << std::endl;
  metrics.Stop();
  controller.Stop();
  return 0;
}
