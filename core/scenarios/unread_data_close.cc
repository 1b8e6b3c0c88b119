// S3 unread_data_close: the initiator sends N bytes; the responder never reads them and
// close()s. Unread data turns the close into a RST (RFC 1122 4.2.2.13): the N bytes were
// acknowledged by the responder's kernel and then discarded.
#include <cerrno>

#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

asio::awaitable<void> Initiator(RoleContext& ctx) { co_await RequestThenReadUntilClosed(ctx, 0); }

asio::awaitable<void> Responder(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  const uint64_t want = ctx.params().request_bytes();
  // Wait until all N bytes sit unread in the receive queue: closing earlier would send a
  // FIN and the late data would meet an orphan instead.
  bool arrived = co_await conn.WaitUntil(
      [want](const SocketLook& look) {
        return static_cast<uint64_t>(look.unread) >= want || look.state != kTcpEstablished;
      },
      ctx.StepDeadline());
  SocketLook look = conn.Look();
  if (!arrived) {
    ctx.Record(v1::CLOSURE_TIMEOUT, 0, v1::STAGE_READ, look);
    ctx.Note("the request never arrived in full");
  } else if (look.state != kTcpEstablished) {
    // Something ended the connection first: read to learn what.
    co_await ReadUntilClosed(ctx, want);
  }
  ctx.set_action(conn.Close());
}

absl::Status Validate(const v1::ScenarioParams& p) {
  if (p.request_bytes() < 1) {
    return absl::InvalidArgumentError("params.request_bytes: unread_data_close needs at least 1");
  }
  return absl::OkStatus();
}

}  // namespace

const ScenarioDef& UnreadDataClose() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_UNREAD_DATA_CLOSE,
                  .name = "unread_data_close",
                  .code = "S3",
                  .summary = "responder close()s with the request unread: RST, request lost"};
    d.defaults.set_request_bytes(4096);
    d.initiator = {.closure = v1::CLOSURE_RST,
                   .error_number = ECONNRESET,
                   .stages = StageBit(v1::STAGE_READ),
                   .action = v1::ACTION_NOTHING};
    d.responder = {
        .closure = v1::CLOSURE_NONE, .action = v1::ACTION_RST, .bytes_received = HeaderOnly};
    d.validate = Validate;
    // The responder's RST: dropped on the way (the initiator waits), or turned into FIN by a proxy.
    d.effects = {
        {Cause::kResetsDropped, v1::CLOSURE_TIMEOUT, Certainty::kAlways,
         CauseEffect::kAfterConnect},
        {Cause::kResetsToFin, v1::CLOSURE_FIN, Certainty::kAlways, CauseEffect::kAfterConnect},
    };
    d.run_initiator = Initiator;
    d.run_responder = Responder;
    return d;
  }();
  return def;
}

}  // namespace rstmesh::scenarios
