// S7 silent_drop, a peer that crashed and rebooted: the responder puts its socket in
// TCP_REPAIR and closes it, so nothing is sent. The initiator's next segment reaches a host
// with no socket, which answers with a RST: its write succeeds, its read sees ECONNRESET.
//
// The responder first sends one marker byte ('D': about to drop, 'U': cannot, lacking
// CAP_NET_ADMIN) so that the initiator knows when to start poking and can report
// UNSUPPORTED instead of a false deviation.
#include <poll.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

constexpr uint8_t kWillDrop = 'D';
constexpr uint8_t kUnsupported = 'U';
constexpr std::chrono::milliseconds kPokeInterval{50};
constexpr absl::string_view kUnsupportedNote =
    "unsupported: the responder lacks CAP_NET_ADMIN (TCP_REPAIR)";

asio::awaitable<void> Initiator(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  uint8_t marker = 0;
  IoResult got = co_await conn.ReadExactly(std::span<uint8_t>(&marker, 1), ctx.StepDeadline());
  if (ctx.Observe(got, v1::STAGE_READ)) co_return;
  if (marker == kUnsupported) {
    ctx.Record(v1::CLOSURE_UNSUPPORTED, 0, v1::STAGE_UNSPECIFIED, got.look);
    ctx.Note(kUnsupportedNote);
    co_return;
  }
  if (marker != kWillDrop) {
    ctx.Record(v1::CLOSURE_PROTOCOL_ERROR, 0, v1::STAGE_READ, got.look);
    ctx.Note(absl::StrCat("unexpected marker byte ", marker));
    co_return;
  }
  // Poke until the peer's host answers with a RST. A poke that arrives before the drop is
  // still acknowledged by the live socket, so keep poking until the deadline.
  ctx.MarkTrigger();
  const auto deadline = ctx.StepDeadline();
  auto gone_now = [](const SocketLook& look) {
    return look.state != kTcpEstablished || (look.revents & (POLLERR | POLLHUP)) != 0;
  };
  for (;;) {
    // The RST to the last poke may land after the wait below gave up (a loaded host): then
    // it is read, not run into by another write.
    if (gone_now(conn.Look())) break;
    IoResult sent = co_await conn.WriteFiller(ctx.params().request_bytes(), deadline);
    if (ctx.Observe(sent, v1::STAGE_WRITE)) co_return;
    bool gone = co_await conn.WaitUntil(gone_now, std::min(deadline, Clock::now() + kPokeInterval));
    if (gone) break;
    if (Clock::now() >= deadline) {
      ctx.Record(v1::CLOSURE_TIMEOUT, 0, v1::STAGE_READ, conn.Look());
      ctx.Note("no RST came back: the peer kept acknowledging");
      co_return;
    }
  }
  co_await ReadUntilClosed(ctx, 0);
}

asio::awaitable<void> Responder(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  const uint8_t marker = ctx.tcp_repair() ? kWillDrop : kUnsupported;
  IoResult sent = co_await conn.Write(std::span<const uint8_t>(&marker, 1), ctx.StepDeadline());
  if (ctx.Observe(sent, v1::STAGE_WRITE)) co_return;
  if (marker == kUnsupported) {
    ctx.Record(v1::CLOSURE_UNSUPPORTED, 0, v1::STAGE_UNSPECIFIED, conn.Look());
    ctx.Note(kUnsupportedNote);
    ctx.set_action(conn.Close());
    co_return;
  }
  // Drop only once the marker is acknowledged, so nothing of ours is left to retransmit.
  co_await conn.WaitUntil([](const SocketLook& look) { return look.unacked == 0; },
                          ctx.StepDeadline());
  if (absl::Status dropped = conn.CloseSilently(); !dropped.ok()) {
    ctx.Record(v1::CLOSURE_LOCAL_ERROR, EPERM, v1::STAGE_UNSPECIFIED, conn.Look());
    ctx.Note(dropped.message());
    co_return;
  }
  ctx.set_action(v1::ACTION_SILENT);
}

}  // namespace

const ScenarioDef& SilentDrop() {
  static const ScenarioDef def = [] {
    ScenarioDef d{
        .id = v1::SCENARIO_SILENT_DROP,
        .name = "silent_drop",
        .code = "S7",
        .summary = "responder loses its state silently (TCP_REPAIR): next write meets RST"};
    d.defaults.set_request_bytes(16);
    d.needs_tcp_repair = true;
    d.initiator = {.closure = v1::CLOSURE_RST,
                   .error_number = ECONNRESET,
                   .stages = StageBit(v1::STAGE_READ),
                   .action = v1::ACTION_NOTHING,
                   .bytes_received = [](const v1::ScenarioParams&) -> std::optional<uint64_t> {
                     return 1;  // the marker
                   }};
    d.responder = {
        .closure = v1::CLOSURE_NONE, .action = v1::ACTION_SILENT, .bytes_received = HeaderOnly};
    // The RST from the host without the socket: dropped (the pokes go unanswered), or a proxy's
    // FIN.
    d.effects = {
        {Cause::kResetsDropped, v1::CLOSURE_TIMEOUT, Certainty::kAlways,
         CauseEffect::kAfterConnect},
        {Cause::kResetsToFin, v1::CLOSURE_FIN, Certainty::kMay, CauseEffect::kAfterConnect},
    };
    d.run_initiator = Initiator;
    d.run_responder = Responder;
    return d;
  }();
  return def;
}

}  // namespace rstmesh::scenarios
