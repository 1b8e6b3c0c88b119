// TestConnection: one end of a test connection, with every operation bounded by a deadline
// and every error reported as the raw errno the kernel returned. Reads and writes go
// straight to recv()/send() (MSG_DONTWAIT | MSG_NOSIGNAL) after Asio says the socket is
// ready, and a non-consuming look (core/socket_look.h) is taken just before each consuming
// call, so an observation carries the socket's state at the moment the error surfaced.
//
// Not thread-safe: use it from one strand. Create with Connect() or Adopt(); it is held by
// shared_ptr so that deadline timers never outlive it.
#pragma once

// Boost 1.74 + g++ 12: <utility> must precede Asio's coroutine headers. And bind a co_await
// result to a variable before testing it: g++ 12 miscompiled `if (co_await f())` with f
// returning awaitable<bool> (the coroutine spun or hit ud2), and co_await inside co_return.
// Arguments built inside a co_await expression may be destroyed twice: give them only
// trivially destructible captures (a lambda holding a shared_ptr corrupted its count).
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "core/socket_look.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// What one operation ended with. Exactly one of: success (ok()), eof, error, deadline.
struct IoResult {
  uint64_t bytes = 0;     // bytes transferred by this operation
  bool eof = false;       // a read returned 0
  int error = 0;          // errno of the failing call
  bool deadline = false;  // our own deadline fired first
  // The socket as the call that ended the operation found it (EOF, error, deadline; or
  // the last read of a ReadToEnd past its limit). Not taken for operations that complete:
  // nothing reads it then, and each look costs three system calls.
  SocketLook look;
  bool ok() const { return !eof && error == 0 && !deadline; }
};

class TestConnection : public std::enable_shared_from_this<TestConnection> {
 public:
  using Socket = asio::ip::tcp::socket;

  // Takes an accepted socket from `peer` (as accept() reported it).
  static std::shared_ptr<TestConnection> Adopt(Socket socket, asio::ip::tcp::endpoint peer);

  // Opens a socket (bound to `source` when given) and connects with a deadline. On failure
  // the result says why and the connection is null.
  struct Connected {
    std::shared_ptr<TestConnection> connection;
    IoResult result;
  };
  static asio::awaitable<Connected> Connect(asio::ip::tcp::endpoint peer,
                                            std::optional<asio::ip::address> source,
                                            Clock::time_point deadline);

  // Reads exactly out.size() bytes into `out`, or stops at EOF / error / deadline.
  asio::awaitable<IoResult> ReadExactly(std::span<uint8_t> out, Clock::time_point deadline);
  // Reads and discards exactly n bytes.
  asio::awaitable<IoResult> Discard(uint64_t n, Clock::time_point deadline);
  // Reads and discards until EOF, error or deadline; more than `limit` bytes is a protocol
  // error reported as result.bytes > limit (the caller decides).
  asio::awaitable<IoResult> ReadToEnd(uint64_t limit, Clock::time_point deadline);
  // Writes all of `data`.
  asio::awaitable<IoResult> Write(std::span<const uint8_t> data, Clock::time_point deadline);
  // Writes n bytes of filler.
  asio::awaitable<IoResult> WriteFiller(uint64_t n, Clock::time_point deadline);

  // Waits until `pred(LookAt(fd))` holds, checking every `interval`. False at the deadline.
  // Never consumes data or errors.
  asio::awaitable<bool> WaitUntil(
      std::function<bool(const SocketLook&)> pred, Clock::time_point deadline,
      std::chrono::milliseconds interval = std::chrono::milliseconds(2));
  // Waits until the deadline without touching the socket.
  asio::awaitable<void> Sleep(Clock::time_point until);

  // shutdown(SHUT_WR): sends our FIN, keeps reading.
  int ShutdownWrite();
  // Closes the socket. Reports what this end sent to end it: nothing if the connection was
  // already gone (or the FIN of an earlier ShutdownWrite), RST with unread data (or when
  // `abortive`), FIN otherwise.
  v1::LocalAction Close(bool abortive = false);
  // Closes after TCP_REPAIR: nothing is sent. Returns the error if repair mode is refused
  // (the socket is then still open).
  absl::Status CloseSilently();

  int fd() { return socket_.native_handle(); }
  bool is_open() const { return socket_.is_open(); }
  // LookAt(fd()) with bytes_acked counting application bytes only: the kernel's count
  // includes our SYN when we opened the connection, and a FIN once it is acknowledged.
  SocketLook Look();
  // Look() while the socket is open; once closed, the look Close() took just before.
  SocketLook LastLook();
  asio::ip::tcp::endpoint remote() const { return remote_; }
  asio::ip::tcp::endpoint local() const { return local_; }

  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }
  // True once this end has seen the peer's FIN (a read returned 0, or a look saw CLOSE_WAIT).
  bool fin_seen() const { return fin_seen_; }
  void set_fin_seen() { fin_seen_ = true; }

  // `socket` must be non-blocking already; `remote` is the peer.
  TestConnection(Socket socket, asio::ip::tcp::endpoint remote);

 private:
  // Waits until the socket is ready for `what`. False when the deadline fired first.
  asio::awaitable<bool> WaitReady(Socket::wait_type what, Clock::time_point deadline);
  asio::awaitable<IoResult> ReadInto(uint8_t* out, uint64_t n, bool to_end, uint64_t limit,
                                     Clock::time_point deadline);
  // The look the failing call `error` (errno of recv/send/SO_ERROR) found: taken after it,
  // plus the POLLERR that reporting a pending socket error cleared.
  SocketLook LookAfterError(int error);

  Socket socket_;
  asio::steady_timer timer_;
  asio::ip::tcp::endpoint remote_;
  asio::ip::tcp::endpoint local_;
  uint64_t wait_generation_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  bool fin_seen_ = false;
  bool fin_sent_ = false;
  bool active_open_ = false;  // we sent the SYN (Connect), so the kernel counts it as acked
  SocketLook closing_look_;   // taken by Close()
};

}  // namespace rstmesh
