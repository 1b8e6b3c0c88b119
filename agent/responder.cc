#include "agent/responder.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <map>

#include "absl/synchronization/mutex.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/str_cat.h"
#include "core/endpoint.h"
#include "core/socket_look.h"
#include "core/wire_header.h"

namespace rstmesh {

struct Responder::Counters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> peak_active{0};
  std::atomic<uint64_t> over_limit{0};
  std::atomic<uint64_t> over_source_limit{0};
  absl::Mutex mu;
  std::map<asio::ip::address, size_t> per_source ABSL_GUARDED_BY(mu);
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> header_timeout{0};
  std::atomic<uint64_t> truncated{0};
  std::atomic<uint64_t> bad_magic{0};
  std::atomic<uint64_t> bad_version{0};
  std::atomic<uint64_t> bad_scenario{0};
  std::atomic<uint64_t> bad_params{0};
  std::atomic<uint64_t> bad_authenticator{0};
  std::atomic<uint64_t> unknown_run{0};
  std::atomic<uint64_t> expired_run{0};
  std::atomic<uint64_t> replayed{0};
  std::atomic<uint64_t> tests_completed{0};
};

Responder::Responder(asio::io_context& io, ResponderOptions options,
                     ObservationCallback on_observation)
    : io_(io),
      options_(std::move(options)),
      on_observation_(std::move(on_observation)),
      counters_(std::make_shared<Counters>()),
      acceptor_(io),
      closed_(io) {}

Responder::~Responder() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  closed_.close(ignored);
}

absl::Status Responder::Start() {
  using asio::ip::tcp;
  boost::system::error_code ec;
  auto fail = [&](absl::string_view what, const tcp::endpoint& ep) {
    return absl::UnavailableError(absl::StrCat(what, " ", FormatEndpoint(ep), ": ", ec.message()));
  };
  tcp::endpoint data(options_.listen, options_.data_port);
  acceptor_.open(data.protocol(), ec);
  if (!ec && data.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(data, ec);
  if (!ec) acceptor_.listen(4096, ec);
  if (ec) return fail("data port: cannot listen on", data);
  data_endpoint_ = acceptor_.local_endpoint();

  // Held bound, never listening: a SYN to it is answered with a RST.
  tcp::endpoint closed(options_.listen, options_.closed_port);
  closed_.open(closed.protocol(), ec);
  if (!ec && closed.address().is_v6()) closed_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) closed_.bind(closed, ec);
  if (ec) return fail("closed port: cannot bind", closed);
  closed_endpoint_ = closed_.local_endpoint();

  tcp_repair_ = options_.allow_tcp_repair && TcpRepairPermitted();
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  return absl::OkStatus();
}

void Responder::Stop() {
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    closed_.close(ignored);
  });
}

ResponderCounters Responder::counters() const {
  const Counters& c = *counters_;
  ResponderCounters out;
  out.accepted = c.accepted;
  out.active = c.active;
  out.peak_active = c.peak_active;
  out.over_limit = c.over_limit;
  out.over_source_limit = c.over_source_limit;
  out.accept_errors = c.accept_errors;
  out.header_timeout = c.header_timeout;
  out.truncated = c.truncated;
  out.bad_magic = c.bad_magic;
  out.bad_version = c.bad_version;
  out.bad_scenario = c.bad_scenario;
  out.bad_params = c.bad_params;
  out.bad_authenticator = c.bad_authenticator;
  out.unknown_run = c.unknown_run;
  out.expired_run = c.expired_run;
  out.replayed = c.replayed;
  out.tests_completed = c.tests_completed;
  return out;
}

asio::awaitable<void> Responder::AcceptLoop() {
  for (;;) {
    auto strand = asio::make_strand(io_);
    boost::system::error_code ec;
    asio::ip::tcp::endpoint peer;  // from accept() itself: no getpeername() per connection
    asio::ip::tcp::socket socket = co_await acceptor_.async_accept(
        strand, peer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off a little instead of spinning.
      counters_->accept_errors++;
      asio::steady_timer pause(io_, std::chrono::milliseconds(20));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    counters_->accepted++;
    if (counters_->active.load() >= options_.max_connections) {
      counters_->over_limit++;
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    const asio::ip::address source = peer.address();
    {
      absl::MutexLock lock(&counters_->mu);
      size_t& open = counters_->per_source[source];
      if (open >= options_.max_per_source) {
        if (open == 0) counters_->per_source.erase(source);
        counters_->over_source_limit++;
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
      ++open;
    }
    // Counted here, not in Serve, so that a burst of accepts cannot overshoot the limit.
    uint64_t active = ++counters_->active;
    if (active > counters_->peak_active) counters_->peak_active = active;
    asio::co_spawn(strand, Serve(std::move(socket), source, peer.port()), asio::detached);
  }
}

// g++ 12 reports Asio's coroutine frame (allocated and freed by awaitable_frame_base's own
// operator new and operator delete, a matching pair) as freed by a mismatched function
// once this coroutine's frame holds the peer's endpoint. A false positive: silenced here
// only, where it appears, so that -Werror builds stay strict everywhere else.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> Responder::Serve(asio::ip::tcp::socket socket, asio::ip::address source,
                                       uint16_t source_port) {
  // AcceptLoop counted this connection as active; it stays so while the coroutine lives.
  // The release holds the counters by
  // shared_ptr: a frame destroyed at shutdown must not touch a Responder that is gone.
  std::shared_ptr<Counters> counters = counters_;
  struct ActiveRelease {
    std::shared_ptr<Counters> counters;
    asio::ip::address source;
    ~ActiveRelease() {
      counters->active--;
      absl::MutexLock lock(&counters->mu);
      auto it = counters->per_source.find(source);
      if (it != counters->per_source.end() && --it->second == 0) counters->per_source.erase(it);
    }
  } release{counters, source};
  std::shared_ptr<TestConnection> conn =
      TestConnection::Adopt(std::move(socket), asio::ip::tcp::endpoint(source, source_port));

  std::array<uint8_t, kHeaderSize> raw;
  IoResult got = co_await conn->ReadExactly(raw, Clock::now() + options_.header_timeout);
  if (!got.ok()) {
    (got.deadline ? counters->header_timeout : counters->truncated)++;
    conn->Close();
    co_return;
  }
  HeaderRejection rejection;
  absl::StatusOr<TestHeader> header = DecodeHeader(raw, &rejection);
  if (!header.ok()) {
    switch (rejection) {
      case HeaderRejection::kBadMagic:
        counters->bad_magic++;
        break;
      case HeaderRejection::kBadVersion:
        counters->bad_version++;
        break;
      case HeaderRejection::kBadAuthenticator:
        counters->bad_authenticator++;
        break;
      default:
        counters->bad_scenario++;
        break;
    }
    conn->Close();
    co_return;
  }
  if (options_.keys != nullptr) {
    const uint32_t run = RunOfTask(header->task_id);
    if (!options_.keys->Has(run)) {
      // Its key may still be on its way from the controller. The predicate captures only
      // trivially destructible values: g++ 12 may destroy a co_await operand's temporaries
      // twice, which a captured shared_ptr does not survive.
      KeyRing* keys = options_.keys.get();
      const bool arrived =
          co_await conn->WaitUntil([keys, run](const SocketLook&) { return keys->Has(run); },
                                   Clock::now() + options_.key_wait, std::chrono::milliseconds(20));
      (void)arrived;
    }
    KeyCheck check = options_.keys->Verify(raw, *header);
    if (check != KeyCheck::kOk) {
      switch (check) {
        case KeyCheck::kUnknownRun:
          counters->unknown_run++;
          break;
        case KeyCheck::kExpired:
          counters->expired_run++;
          break;
        case KeyCheck::kReplayed:
          counters->replayed++;
          break;
        default:
          counters->bad_authenticator++;
      }
      conn->Close();
      co_return;
    }
  }
  const ScenarioDef* def = FindScenario(header->scenario);
  if (def == nullptr || !def->responder.observes) {  // refused never reaches a data port
    counters->bad_scenario++;
    conn->Close();
    co_return;
  }
  v1::ScenarioParams params = ResolveParams(*def, header->params);
  if (!ValidateParams(*def, params).ok()) {
    counters->bad_params++;
    conn->Close();
    co_return;
  }
  RoleContext ctx(v1::ROLE_RESPONDER, *def, header->task_id, params, options_.timeouts,
                  tcp_repair_);
  // The test began when the header arrived, which is earlier than now when this process
  // was frozen (a hung host's kernel queues the connection and its header): the kernel
  // knows how long ago data last came in.
  // Only around a freeze: it costs a system call per test.
  if (options_.maybe_frozen && options_.maybe_frozen()) {
    tcp_info info{};
    socklen_t info_len = sizeof(info);
    if (getsockopt(conn->fd(), IPPROTO_TCP, TCP_INFO, &info, &info_len) == 0) {
      ctx.set_started(Clock::now() - std::chrono::milliseconds(info.tcpi_last_data_recv));
    }
  }
  ctx.set_connection(conn);
  RoleFn role = def->run_responder;
  if (options_.test_reset_everything)
    role = FindScenario(v1::SCENARIO_ABORTIVE_CLOSE)->run_responder;
  if (role != nullptr) co_await role(ctx);
  v1::Observation obs = ctx.Finish();
  if (options_.add_evidence && !obs.matched()) co_await options_.add_evidence(obs);
  counters->tests_completed++;
  if (on_observation_) on_observation_(std::move(obs));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace rstmesh
