// rstmesh-agent: flags only; the work is in the agent library.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "agent/agent.h"
#include "agent/probe.h"
#include "agent/process_limits.h"
#include "agent/serve.h"
#include "cli/command_line.h"

// --key-file FILE or --insecure (exactly one): the key, or none for unsigned headers.
absl::StatusOr<std::optional<rstmesh::RunKey>> LoadKey(const std::string& path, bool insecure,
                                                       const std::string& who) {
  if (insecure && !path.empty()) {
    return absl::InvalidArgumentError(who + ": --insecure and --key-file exclude each other");
  }
  if (insecure) return std::optional<rstmesh::RunKey>();
  if (path.empty()) {
    return absl::InvalidArgumentError(
        who +
        ": --key-file is required (test headers are signed; make one with 'openssl rand "
        "-hex 32'), or --insecure for unsigned headers on a trusted network");
  }
  std::ifstream in(path);
  std::string hex((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && hex.empty()) {
    return absl::InvalidArgumentError(who + ": --key-file: cannot read '" + path + "'");
  }
  absl::StatusOr<rstmesh::RunKey> key = rstmesh::RunKeyFromHex(hex);
  if (!key.ok()) {
    return absl::InvalidArgumentError(who + ": --key-file '" + path +
                                      "': " + std::string(key.status().message()));
  }
  return std::optional<rstmesh::RunKey>(*key);
}

int main(int argc, char** argv) {
  using rstmesh::kExitUsage;
  // Debian's Abseil checks every Mutex acquisition for lock-order cycles (a debugging aid
  // that costs on every test connection); tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{
      "rstmesh-agent: the rstmesh data plane: answers test connections (serve) and "
      "runs closure scenarios against a peer agent (probe)"};
  app.require_subcommand(1);
  rstmesh::StandardCommandLine(app, "rstmesh-agent");

  rstmesh::ServeOptions serve;
  std::string listen = "::";
  int header_timeout_ms = 5000, serve_io_timeout_ms = 10000;
  bool no_tcp_repair = false;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the responder alone until SIGINT/SIGTERM");
  serve_cmd->add_option("--listen", listen, "Address to listen on (:: is dual-stack)")
      ->capture_default_str();
  serve_cmd->add_option("--port", serve.responder.data_port, "Data port (0 picks one)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--closed-port", serve.responder.closed_port,
                   "Port held bound but closed, for the refused scenario (0 picks one)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-connections", serve.responder.max_connections,
                   "Concurrent test connections; more are closed at once and counted")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve_cmd
      ->add_option("--header-timeout-ms", header_timeout_ms,
                   "Time a client has to send the whole test header")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  serve_cmd->add_option("--io-timeout-ms", serve_io_timeout_ms, "Deadline of each read/write step")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600000));
  serve_cmd->add_flag("--no-tcp-repair", no_tcp_repair,
                      "Do not use TCP_REPAIR: silent_drop reports UNSUPPORTED");
  serve_cmd->add_option("--threads", serve.threads, "io threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  std::string serve_key_file, probe_key_file;
  bool serve_insecure = false, probe_insecure = false;
  serve_cmd->add_option("--key-file", serve_key_file,
                        "Act only on test headers signed with this key (64 hex digits, e.g. "
                        "from 'openssl rand -hex 32')");
  serve_cmd->add_flag("--insecure", serve_insecure,
                      "Act on unsigned test headers: anyone who reaches the port can make it "
                      "reset connections (local use only)");
  serve_cmd->add_option("-o,--output", serve.output, "table or json (one object per line)")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));

  rstmesh::ProbeOptions probe;
  std::string scenarios = "all";
  uint32_t request_bytes = 0, response_bytes = 0, idle_ms = 0, read_limit = 0;
  int connect_timeout_ms = 3000, io_timeout_ms = 5000;
  CLI::App* probe_cmd =
      app.add_subcommand("probe", "Run scenarios against one peer agent and compare with Linux");
  probe_cmd->add_option("--peer", probe.peer, "The peer agent's data port, HOST[:PORT]")
      ->required();
  probe_cmd
      ->add_option("--scenario", scenarios, "Scenario names or codes, comma-separated, or 'all'")
      ->capture_default_str();
  probe_cmd->add_option("--count", probe.count, "Repetitions of each scenario")
      ->capture_default_str();
  probe_cmd->add_option("--parallel", probe.parallel, "Tasks in flight at once")
      ->capture_default_str();
  probe_cmd->add_option("-o,--output", probe.output, "table or json")->capture_default_str();
  probe_cmd->add_option("--closed-port", probe.closed_port,
                        "The peer's closed port (default: its data port + 1)");
  probe_cmd->add_option("--source", probe.source, "Local address for test connections");
  probe_cmd->add_option("--request-bytes", request_bytes, "Override: bytes the initiator sends");
  probe_cmd->add_option("--response-bytes", response_bytes,
                        "Override: bytes the responder sends back");
  probe_cmd->add_option("--idle-ms", idle_ms, "Override: idle_hold's idle time");
  probe_cmd->add_option("--read-limit", read_limit,
                        "Override: bytes reset_mid_transfer's responder reads before aborting");
  probe_cmd->add_option("--key-file", probe_key_file,
                        "Sign test headers with this key (the peer's serve --key-file)");
  probe_cmd->add_flag("--insecure", probe_insecure,
                      "Send unsigned test headers (serve --insecure)");
  probe_cmd->add_option("--connect-timeout-ms", connect_timeout_ms, "connect() deadline")
      ->capture_default_str();
  probe_cmd->add_option("--io-timeout-ms", io_timeout_ms, "Deadline of each read/write step")
      ->capture_default_str();

  rstmesh::AgentOptions agent;
  std::string run_listen = "::", labels;
  bool run_no_tcp_repair = false;
  auto env = [](const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return std::string(value != nullptr && *value != 0 ? value : fallback);
  };
  char hostname[256] = "agent";
  gethostname(hostname, sizeof(hostname) - 1);
  agent.id = env("NODE_NAME", hostname);
  agent.controller = env("RSTMESH_CONTROLLER", "127.0.0.1:7400");
  labels = env("RSTMESH_LABELS", "");
  agent.advertise = env("POD_IP", "");
  CLI::App* run_cmd =
      app.add_subcommand("run", "Join a controller: run its schedules, answer peer agents");
  run_cmd->add_option("--controller", agent.controller, "Controller address (RSTMESH_CONTROLLER)")
      ->capture_default_str();
  run_cmd->add_option("--id", agent.id, "Agent id, the node name (NODE_NAME)")
      ->capture_default_str();
  run_cmd->add_option("--labels", labels, "k=v,... e.g. zone=a,rack=r1 (RSTMESH_LABELS)");
  run_cmd->add_option("--listen", run_listen, "Data plane address (:: is dual-stack)")
      ->capture_default_str();
  run_cmd->add_option("--advertise", agent.advertise,
                      "Address peers dial this agent at (POD_IP); default: --listen");
  run_cmd->add_option("--port", agent.responder.data_port, "Data port")->capture_default_str();
  run_cmd->add_option("--closed-port", agent.responder.closed_port, "Port held closed")
      ->capture_default_str();
  run_cmd
      ->add_option("--max-connections", agent.responder.max_connections,
                   "Concurrent test connections answered")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  int run_header_timeout_ms = 5000;
  bool run_check_config = false;
  run_cmd->add_flag("--check-config", run_check_config,
                    "Check the flags, environment and certificate files, print the "
                    "configuration and exit (0 when it would start)");
  run_cmd
      ->add_option("--header-timeout-ms", run_header_timeout_ms,
                   "A test connection's header must arrive within this")
      ->capture_default_str()
      ->check(CLI::Range(100, 60000));
  run_cmd
      ->add_option("--max-per-source", agent.responder.max_per_source,
                   "Concurrent test connections answered from one address")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  run_cmd->add_flag("--no-tcp-repair", run_no_tcp_repair,
                    "Do not use TCP_REPAIR: silent_drop reports UNSUPPORTED");
  run_cmd
      ->add_flag("--test-reset-everything", agent.responder.test_reset_everything,
                 "Tests only: answer every test connection with an abortive close")
      ->group("");  // hidden from --help
  agent.capture_packets = "auto";
  run_cmd
      ->add_option("--capture-packets", agent.capture_packets,
                   "Keep the packets that ended deviating tests as evidence (needs CAP_NET_RAW): "
                   "on, auto (where permitted), off")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "auto", "off"}));
  run_cmd->add_option("--health-listen", agent.health_listen,
                      "Plaintext gRPC health address for Kubernetes probes (e.g. 0.0.0.0:7404)");
  run_cmd->add_option("--metrics-listen", agent.metrics_listen,
                      "HTTP address for /metrics (Prometheus) and /healthz (e.g. 0.0.0.0:7405)");
  agent.tls.insecure = false;
  rstmesh::AddTlsFlags(*run_cmd, agent.tls, rstmesh::TlsRole::kClient);
  run_cmd->add_option("--threads", agent.threads, "io threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << rstmesh::ParseErrorMessage(app, e, std::vector<std::string>(argv + 1, argv + argc),
                                            "rstmesh-agent");
    return kExitUsage;
  }

  rstmesh::RaiseFileLimit();
  if (*run_cmd) {
    boost::system::error_code ec;
    agent.responder.listen = boost::asio::ip::make_address(run_listen, ec);
    if (ec) {
      std::cerr << "rstmesh-agent run: --listen: '" << run_listen << "' is not an IP address\n";
      return kExitUsage;
    }
    if (agent.id.empty()) {
      std::cerr << "rstmesh-agent run: --id: required (or set NODE_NAME)\n";
      return kExitUsage;
    }
    for (const std::string& pair : CLI::detail::split(labels, ',')) {
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "rstmesh-agent run: --labels: '" << pair << "' is not key=value\n";
        return kExitUsage;
      }
      agent.labels[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    agent.responder.allow_tcp_repair = !run_no_tcp_repair;
    agent.responder.header_timeout = std::chrono::milliseconds(run_header_timeout_ms);
    rstmesh::TlsFromEnvironment(agent.tls);
    if (absl::Status tls = rstmesh::ChannelCredentials(agent.tls).status(); !tls.ok()) {
      std::cerr << "rstmesh-agent run: " << tls.message() << "\n";
      return kExitUsage;
    }
    if (run_check_config) {
      std::string label_text;
      for (const auto& [k, v] : agent.labels) {
        label_text += (label_text.empty() ? "" : ",") + k + "=" + v;
      }
      std::cout << "rstmesh-agent run: configuration ok: id=" << agent.id
                << " controller=" << agent.controller << " listen=" << run_listen
                << " port=" << agent.responder.data_port
                << " closed_port=" << agent.responder.closed_port
                << " advertise=" << (agent.advertise.empty() ? "-" : agent.advertise)
                << " labels=" << (label_text.empty() ? "-" : label_text)
                << " health=" << (agent.health_listen.empty() ? "-" : agent.health_listen)
                << " metrics=" << (agent.metrics_listen.empty() ? "-" : agent.metrics_listen)
                << " tls=" << (agent.tls.insecure ? "off" : "mutual") << std::endl;
      return 0;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    rstmesh::Agent running(agent);
    if (absl::Status started = running.Start(); !started.ok()) {
      std::cerr << "rstmesh-agent run: " << started.message() << "\n";
      return kExitUsage;
    }
    std::cout << "rstmesh-agent " << agent.id << ": data=" << running.responder()->data_endpoint()
              << " controller=" << agent.controller << " health=" << running.health_port()
              << " metrics=" << running.metrics_port()
              << " tls=" << (agent.tls.insecure ? "off" : "mutual") << std::endl;
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    running.Stop();
    std::cout << "rstmesh-agent " << agent.id
              << ": stopped: " << rstmesh::FormatCounters(running.responder()->counters())
              << std::endl;
    return 0;
  }
  if (*serve_cmd) {
    boost::system::error_code ec;
    serve.responder.listen = boost::asio::ip::make_address(listen, ec);
    if (ec) {
      std::cerr << "rstmesh-agent serve: --listen: '" << listen << "' is not an IP address\n";
      return kExitUsage;
    }
    absl::StatusOr<std::optional<rstmesh::RunKey>> key =
        LoadKey(serve_key_file, serve_insecure, "rstmesh-agent serve");
    if (!key.ok()) {
      std::cerr << key.status().message() << "\n";
      return kExitUsage;
    }
    if (key->has_value()) {
      serve.responder.keys = std::make_shared<rstmesh::KeyRing>();
      serve.responder.keys->SetSharedKey(**key);
    }
    serve.responder.header_timeout = std::chrono::milliseconds(header_timeout_ms);
    serve.responder.timeouts.io = std::chrono::milliseconds(serve_io_timeout_ms);
    serve.responder.allow_tcp_repair = !no_tcp_repair;
    return rstmesh::RunServe(serve, std::cout, std::cerr);
  }
  probe.scenarios.clear();
  for (const std::string& name : CLI::detail::split(scenarios, ',')) {
    if (!name.empty()) probe.scenarios.push_back(CLI::detail::trim_copy(name));
  }
  probe.params.set_request_bytes(request_bytes);
  probe.params.set_response_bytes(response_bytes);
  probe.params.set_idle_ms(idle_ms);
  probe.params.set_read_limit(read_limit);
  absl::StatusOr<std::optional<rstmesh::RunKey>> key =
      LoadKey(probe_key_file, probe_insecure, "rstmesh-agent probe");
  if (!key.ok()) {
    std::cerr << key.status().message() << "\n";
    return kExitUsage;
  }
  probe.key = *key;
  probe.timeouts.connect = std::chrono::milliseconds(connect_timeout_ms);
  probe.timeouts.io = std::chrono::milliseconds(io_timeout_ms);
  return rstmesh::RunProbe(probe, std::cout, std::cerr);
}
