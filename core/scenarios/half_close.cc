// S5 half_close: the initiator writes its request and shutdown(SHUT_WR)s; the responder
// reads to EOF, then answers with M bytes and close()s. Data flows after the first FIN; a
// path that collapses half-close shows EOF without the data, or a RST.
#include "absl/strings/str_cat.h"
#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

asio::awaitable<void> Initiator(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  IoResult sent = co_await conn.WriteFiller(ctx.params().request_bytes(), ctx.StepDeadline());
  if (ctx.Observe(sent, v1::STAGE_WRITE)) co_return;
  if (int err = conn.ShutdownWrite(); err != 0) {
    ctx.Record(v1::CLOSURE_LOCAL_ERROR, err, v1::STAGE_WRITE, conn.Look());
    co_return;
  }
  ctx.MarkTrigger();
  co_await ReadUntilClosed(ctx, ctx.params().response_bytes());
}

asio::awaitable<void> Responder(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  const uint64_t request = ctx.params().request_bytes();
  IoResult read = co_await conn.ReadToEnd(request, ctx.StepDeadline());
  if (read.ok()) {
    ctx.Record(v1::CLOSURE_PROTOCOL_ERROR, 0, v1::STAGE_READ, read.look);
    ctx.Note(absl::StrCat("more than the ", request, " request bytes before EOF"));
    co_return;
  }
  ctx.Observe(read, v1::STAGE_READ);
  if (!read.eof) co_return;  // reset or timed out: nothing to answer
  // The half-closed peer still reads: answer after its FIN.
  ctx.Observe(co_await conn.WriteFiller(ctx.params().response_bytes(), ctx.StepDeadline()),
              v1::STAGE_WRITE);
  ctx.set_action(conn.Close());
}

}  // namespace

const ScenarioDef& HalfClose() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_HALF_CLOSE,
                  .name = "half_close",
                  .code = "S5",
                  .summary = "initiator shutdown(SHUT_WR)s; the answer flows after its FIN"};
    d.defaults.set_request_bytes(2048);
    d.defaults.set_response_bytes(4096);
    d.initiator = {.closure = v1::CLOSURE_FIN,
                   .stages = StageBit(v1::STAGE_READ),
                   .action = v1::ACTION_FIN,
                   .bytes_received = ResponseBytes};
    d.responder = {.closure = v1::CLOSURE_FIN,
                   .stages = StageBit(v1::STAGE_READ),
                   .action = v1::ACTION_FIN,
                   .bytes_received = HeaderAndRequest};
    // A path that collapses half-close ends the response with FIN (no data) or RST.
    d.effects = {
        {Cause::kNoHalfClose, v1::CLOSURE_FIN, Certainty::kAlways, CauseEffect::kCutShort},
        {Cause::kNoHalfClose, v1::CLOSURE_RST, Certainty::kAlways, CauseEffect::kAfterConnect},
        {Cause::kResetsToFin, v1::CLOSURE_FIN, Certainty::kMay, CauseEffect::kCutShort},
        {Cause::kForgedReset, v1::CLOSURE_RST, Certainty::kMay, CauseEffect::kForged},
    };
    d.run_initiator = Initiator;
    d.run_responder = Responder;
    return d;
  }();
  return def;
}

}  // namespace rstmesh::scenarios
