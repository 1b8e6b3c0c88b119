#include "core/test_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

namespace rstmesh {
namespace {

constexpr size_t kChunk = 64 * 1024;

const std::array<uint8_t, kChunk>& Filler() {
  static const std::array<uint8_t, kChunk> filler = [] {
    std::array<uint8_t, kChunk> f{};
    for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<uint8_t>('a' + i % 26);
    return f;
  }();
  return filler;
}

}  // namespace

TestConnection::TestConnection(Socket socket, asio::ip::tcp::endpoint remote)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), remote_(remote) {
  boost::system::error_code ec;
  local_ = socket_.local_endpoint(ec);
}

std::shared_ptr<TestConnection> TestConnection::Adopt(Socket socket, asio::ip::tcp::endpoint peer) {
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  return std::make_shared<TestConnection>(std::move(socket), peer);
}

asio::awaitable<TestConnection::Connected> TestConnection::Connect(
    asio::ip::tcp::endpoint peer, std::optional<asio::ip::address> source,
    Clock::time_point deadline) {
  Connected out;
  auto executor = co_await asio::this_coro::executor;
  Socket socket(executor);
  boost::system::error_code ec;
  socket.open(peer.protocol(), ec);
  if (!ec && source) socket.bind(asio::ip::tcp::endpoint(*source, 0), ec);
  if (!ec) socket.non_blocking(true, ec);
  if (ec) {
    out.result.error = ec.value();
    co_return out;
  }
  auto connection = std::make_shared<TestConnection>(std::move(socket), peer);
  int fd = connection->fd();
  if (::connect(fd, peer.data(), static_cast<socklen_t>(peer.size())) != 0) {
    if (errno != EINPROGRESS) {
      out.result.error = errno;
      co_return out;
    }
    const bool ready = co_await connection->WaitReady(Socket::wait_write, deadline);
    if (!ready) {
      out.result.deadline = true;
      out.result.look = connection->Look();
      co_return out;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      out.result.error = err;
      out.result.look = connection->LookAfterError(err);
      co_return out;
    }
  }
  connection->active_open_ = true;
  out.connection = std::move(connection);
  co_return out;
}

SocketLook TestConnection::Look() {
  SocketLook look = LookAt(fd());
  if (active_open_ && look.bytes_acked > 0) --look.bytes_acked;
  look.bytes_acked = std::min(look.bytes_acked, bytes_sent_);
  return look;
}

// Linux reports a pending socket error (sk_err: a reset, a timeout, a refusal) once: the
// recv(), send() or getsockopt(SO_ERROR) that returns it clears it, and with it poll()'s
// POLLERR. Nothing else a failing call changes shows in a look (state, TCP_INFO counters,
// unread bytes are as they were), and a read that returns 0 changes nothing at all. So the
// look before the failing call is the look after it with POLLERR back, for every error that
// came from sk_err: all but EPIPE (send after our own shutdown or the peer's FIN: sk_err was
// empty) and ENOTCONN (recv on a closed socket without an error).
SocketLook TestConnection::LookAfterError(int error) {
  SocketLook look = Look();
  if (error != 0 && error != EPIPE && error != ENOTCONN) look.revents |= POLLERR;
  return look;
}

SocketLook TestConnection::LastLook() { return socket_.is_open() ? Look() : closing_look_; }

asio::awaitable<bool> TestConnection::WaitReady(Socket::wait_type what,
                                                Clock::time_point deadline) {
  if (Clock::now() >= deadline) co_return false;
  const uint64_t generation = ++wait_generation_;
  auto shared_fired = std::make_shared<bool>(false);
  timer_.expires_at(deadline);
  timer_.async_wait(
      [weak = weak_from_this(), generation, shared_fired](const boost::system::error_code& ec) {
        if (ec) return;
        auto self = weak.lock();
        if (!self || self->wait_generation_ != generation) return;
        *shared_fired = true;
        boost::system::error_code ignored;
        self->socket_.cancel(ignored);
      });
  boost::system::error_code ec;
  co_await socket_.async_wait(what, asio::redirect_error(asio::use_awaitable, ec));
  ++wait_generation_;  // a timer completion already queued must not cancel a later wait
  timer_.cancel();
  co_return !*shared_fired;
}

asio::awaitable<IoResult> TestConnection::ReadInto(uint8_t* out, uint64_t n, bool to_end,
                                                   uint64_t limit, Clock::time_point deadline) {
  IoResult result;
  std::array<uint8_t, kChunk> scratch;
  while (to_end || result.bytes < n) {
    uint8_t* dst = out != nullptr ? out + result.bytes : scratch.data();
    size_t want = to_end ? kChunk : std::min<uint64_t>(n - result.bytes, kChunk);
    ssize_t got = ::recv(fd(), dst, want, MSG_DONTWAIT);
    if (got > 0) {
      result.bytes += got;
      bytes_received_ += got;
      if (to_end && result.bytes > limit) {
        result.look = Look();
        co_return result;
      }
      continue;
    }
    if (got == 0) {
      result.eof = true;
      fin_seen_ = true;
      result.look = Look();  // reading the FIN changed nothing a look shows
      co_return result;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      result.error = errno;
      result.look = LookAfterError(result.error);
      co_return result;
    }
    const bool ready = co_await WaitReady(Socket::wait_read, deadline);
    if (!ready) {
      result.deadline = true;
      result.look = Look();
      co_return result;
    }
  }
  co_return result;
}

asio::awaitable<IoResult> TestConnection::ReadExactly(std::span<uint8_t> out,
                                                      Clock::time_point deadline) {
  return ReadInto(out.data(), out.size(), false, 0, deadline);
}

asio::awaitable<IoResult> TestConnection::Discard(uint64_t n, Clock::time_point deadline) {
  return ReadInto(nullptr, n, false, 0, deadline);
}

asio::awaitable<IoResult> TestConnection::ReadToEnd(uint64_t limit, Clock::time_point deadline) {
  return ReadInto(nullptr, 0, true, limit, deadline);
}

asio::awaitable<IoResult> TestConnection::Write(std::span<const uint8_t> data,
                                                Clock::time_point deadline) {
  IoResult result;
  while (result.bytes < data.size()) {
    ssize_t sent = ::send(fd(), data.data() + result.bytes, data.size() - result.bytes,
                          MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      result.bytes += sent;
      bytes_sent_ += sent;
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      result.error = errno;
      result.look = LookAfterError(result.error);
      co_return result;
    }
    const bool ready = co_await WaitReady(Socket::wait_write, deadline);
    if (!ready) {
      result.deadline = true;
      result.look = Look();
      co_return result;
    }
  }
  co_return result;
}

asio::awaitable<IoResult> TestConnection::WriteFiller(uint64_t n, Clock::time_point deadline) {
  IoResult total;
  const auto& filler = Filler();
  while (total.bytes < n) {
    size_t chunk = std::min<uint64_t>(n - total.bytes, filler.size());
    IoResult part = co_await Write(std::span<const uint8_t>(filler.data(), chunk), deadline);
    total.bytes += part.bytes;
    total.look = part.look;
    if (!part.ok()) {
      total.error = part.error;
      total.deadline = part.deadline;
      co_return total;
    }
  }
  co_return total;
}

asio::awaitable<bool> TestConnection::WaitUntil(std::function<bool(const SocketLook&)> pred,
                                                Clock::time_point deadline,
                                                std::chrono::milliseconds interval) {
  for (;;) {
    if (pred(Look())) co_return true;
    auto now = Clock::now();
    if (now >= deadline) co_return false;
    co_await Sleep(std::min(deadline, now + interval));
  }
}

asio::awaitable<void> TestConnection::Sleep(Clock::time_point until) {
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_at(until);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

int TestConnection::ShutdownWrite() {
  if (::shutdown(fd(), SHUT_WR) != 0) return errno;
  fin_sent_ = true;
  return 0;
}

v1::LocalAction TestConnection::Close(bool abortive) {
  if (!socket_.is_open()) return v1::ACTION_NOTHING;
  SocketLook look = Look();
  closing_look_ = look;
  v1::LocalAction action;
  if (look.state == kTcpClose) {
    // Already gone: a FIN we sent earlier with shutdown() is the last thing we did.
    action = fin_sent_ ? v1::ACTION_FIN : v1::ACTION_NOTHING;
  } else if (abortive) {
    action = SetAbortiveClose(fd()).ok() ? v1::ACTION_RST : v1::ACTION_FIN;
  } else {
    action = look.unread > 0 ? v1::ACTION_RST : v1::ACTION_FIN;
  }
  boost::system::error_code ignored;
  socket_.close(ignored);
  return action;
}

absl::Status TestConnection::CloseSilently() {
  absl::Status status = EnterRepairMode(fd());
  if (!status.ok()) return status;
  boost::system::error_code ignored;
  socket_.close(ignored);
  return absl::OkStatus();
}

}  // namespace rstmesh
