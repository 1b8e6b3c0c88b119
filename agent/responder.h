// The responder: listens on the data port, reads and validates each test connection's
// header under a deadline, plays the scenario's responder role and reports its own
// observation. It also holds a second port bound but not listening, so that `refused` has a
// port that is guaranteed closed.
//
// Anything it cannot validate is closed without acting on it and counted by reason. Beyond
// max_connections concurrent test connections it closes new ones at once and counts them.
//
// Thread-safe: Start() once, then Stop() and counters() from any thread. The io_context must
// outlive every coroutine the responder spawned (DataPlane arranges that).
#pragma once

#include <utility>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "core/run_keys.h"
#include "core/scenario.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

struct ResponderOptions {
  // "::" listens on every IPv4 and IPv6 address (dual-stack).
  asio::ip::address listen = asio::ip::address_v6::any();
  uint16_t data_port = 7402;    // 0 picks a free port
  uint16_t closed_port = 7403;  // 0 picks a free port
  size_t max_connections = 4096;
  // Concurrent test connections from one address: as many as a plan can put on one pair.
  size_t max_per_source = 1024;
  std::chrono::milliseconds header_timeout{5000};
  Timeouts timeouts;
  bool allow_tcp_repair = true;  // false: report silent_drop as UNSUPPORTED
  // The run keys headers must authenticate under. Null: headers are not authenticated
  // (in-process tests, and `serve --insecure`).
  std::shared_ptr<KeyRing> keys;
  // A header of a run whose key has not arrived yet waits this long for it (the key and
  // the initiator's schedule travel on different streams).
  std::chrono::milliseconds key_wait{2000};
  // Tests only: play abortive_close's responder role whatever the scenario, as a peer that
  // resets everything would. Lets end-to-end tests provoke deviations on a clean path.
  bool test_reset_everything = false;
  // Whether this process may just have been frozen (StallWatch::MaybeFrozen); then a test
  // counts from when its header arrived, which costs a TCP_INFO look. Null: never.
  std::function<bool()> maybe_frozen;
  // Adds the packet evidence to a deviating observation before it is reported; may be null.
  std::function<asio::awaitable<void>(v1::Observation&)> add_evidence;
};

// A snapshot of the responder's counters.
struct ResponderCounters {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t peak_active = 0;
  uint64_t over_limit = 0;         // closed at once: max_connections were busy
  uint64_t over_source_limit = 0;  // closed at once: its address had max_per_source open
  uint64_t accept_errors = 0;
  uint64_t header_timeout = 0;  // the header did not arrive in time (slow or silent sender)
  uint64_t truncated = 0;       // the connection ended before a whole header arrived
  uint64_t bad_magic = 0;
  uint64_t bad_version = 0;
  uint64_t bad_scenario = 0;
  uint64_t bad_params = 0;
  uint64_t bad_authenticator = 0;  // does not authenticate under its run's key
  uint64_t unknown_run = 0;        // no key for its run (arrived within key_wait)
  uint64_t expired_run = 0;        // its run's key expired or was revoked
  uint64_t replayed = 0;           // this (task id, nonce) was acted on already
  uint64_t tests_completed = 0;    // headers accepted and roles played to the end

  uint64_t rejected() const {
    return header_timeout + truncated + bad_magic + bad_version + bad_scenario + bad_params +
           bad_authenticator + unknown_run + expired_run + replayed;
  }
};

class Responder {
 public:
  using ObservationCallback = std::function<void(v1::Observation)>;

  // `on_observation` is called on an io thread once per completed test.
  Responder(asio::io_context& io, ResponderOptions options, ObservationCallback on_observation);
  ~Responder();

  // Binds both ports and starts accepting. kUnavailable if a port is taken.
  absl::Status Start();
  // Stops accepting and releases both ports; tests under way run to their end.
  void Stop();

  asio::ip::tcp::endpoint data_endpoint() const { return data_endpoint_; }
  asio::ip::tcp::endpoint closed_endpoint() const { return closed_endpoint_; }
  bool tcp_repair() const { return tcp_repair_; }
  ResponderCounters counters() const;

 private:
  struct Counters;
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(asio::ip::tcp::socket socket, asio::ip::address source,
                              uint16_t source_port);

  asio::io_context& io_;
  const ResponderOptions options_;
  const ObservationCallback on_observation_;
  std::shared_ptr<Counters> counters_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket closed_;
  asio::ip::tcp::endpoint data_endpoint_;
  asio::ip::tcp::endpoint closed_endpoint_;
  bool tcp_repair_ = false;
};

}  // namespace rstmesh
