// S4 write_after_peer_close: the responder close()s right after the header (FIN). The
// initiator then writes twice and reads: the first write succeeds and is answered with a
// RST, the second fails EPIPE, the read returns 0: FIN_THEN_RST. The data after the FIN was
// never acknowledged.
#include <poll.h>

#include <cerrno>

#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

asio::awaitable<void> Initiator(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  // Wait for the FIN without consuming it.
  bool closed = co_await conn.WaitUntil(
      [](const SocketLook& look) {
        return look.state != kTcpEstablished || (look.revents & POLLRDHUP) != 0;
      },
      ctx.StepDeadline());
  if (!closed) {
    ctx.Record(v1::CLOSURE_TIMEOUT, 0, v1::STAGE_READ, conn.Look());
    ctx.Note("the peer never closed");
    co_return;
  }
  if (conn.Look().state != kTcpCloseWait) {
    co_await ReadUntilClosed(ctx, 0);  // not a plain FIN: let the read say what it was
    co_return;
  }
  conn.set_fin_seen();
  ctx.MarkTrigger();
  const uint64_t chunk = ctx.params().request_bytes();
  if (ctx.Observe(co_await conn.WriteFiller(chunk, ctx.StepDeadline()), v1::STAGE_WRITE)) {
    co_return;
  }
  // The peer's host answers that write with a RST; give it time to arrive.
  co_await conn.WaitUntil([](const SocketLook& look) { return look.state == kTcpClose; },
                          ctx.StepDeadline());
  ctx.Observe(co_await conn.WriteFiller(chunk, ctx.StepDeadline()), v1::STAGE_WRITE);
  IoResult read = co_await conn.ReadToEnd(0, ctx.StepDeadline());
  if (!ctx.observed()) {
    ctx.Observe(read, v1::STAGE_READ);  // the second write went through: no RST came back
  } else if (!read.eof) {
    ctx.Note("the read after EPIPE did not return 0");
  }
}

asio::awaitable<void> Responder(RoleContext& ctx) {
  ctx.set_action(ctx.conn().Close());
  co_return;
}

}  // namespace

const ScenarioDef& WriteAfterPeerClose() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_WRITE_AFTER_PEER_CLOSE,
                  .name = "write_after_peer_close",
                  .code = "S4",
                  .summary = "initiator writes after the peer's FIN: RST, then EPIPE"};
    d.defaults.set_request_bytes(512);
    d.initiator = {
        .closure = v1::CLOSURE_FIN_THEN_RST,
        .error_number = EPIPE,
        .stages = StageBit(v1::STAGE_WRITE),
        .action = v1::ACTION_NOTHING,
        .bytes_received = [](const v1::ScenarioParams&) -> std::optional<uint64_t> { return 0; }};
    d.responder = {
        .closure = v1::CLOSURE_NONE, .action = v1::ACTION_FIN, .bytes_received = HeaderOnly};
    // The RST answering the writes after the FIN: dropped, the initiator sees the FIN alone.
    d.effects = {
        {Cause::kResetsDropped, v1::CLOSURE_FIN, Certainty::kAlways, CauseEffect::kAfterConnect},
        {Cause::kForgedReset, v1::CLOSURE_RST, Certainty::kMay, CauseEffect::kForged},
    };
    d.run_initiator = Initiator;
    d.run_responder = Responder;
    return d;
  }();
  return def;
}

}  // namespace rstmesh::scenarios
