// S2 abortive_close: the responder answers, then close()s with SO_LINGER {1,0}: one RST.
// Whatever it had not yet sent vanishes; the initiator reads what arrived, then ECONNRESET.
#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

asio::awaitable<void> Initiator(RoleContext& ctx) {
  co_await RequestThenReadUntilClosed(ctx, ctx.params().response_bytes());
}

asio::awaitable<void> Responder(RoleContext& ctx) {
  const bool answered = co_await ReadRequestAndAnswer(ctx, ctx.StepDeadline());
  if (answered) {
    ctx.set_action(ctx.conn().Close(/*abortive=*/true));
  }
}

}  // namespace

const ScenarioDef& AbortiveClose() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_ABORTIVE_CLOSE,
                  .name = "abortive_close",
                  .code = "S2",
                  .summary = "responder close()s with SO_LINGER {1,0}: one RST"};
    d.defaults.set_request_bytes(512);
    d.defaults.set_response_bytes(1024);
    d.initiator = {.closure = v1::CLOSURE_RST,
                   .error_number = ECONNRESET,
                   .stages = StageBit(v1::STAGE_READ),
                   .action = v1::ACTION_NOTHING};
    d.responder = {
        .closure = v1::CLOSURE_NONE, .action = v1::ACTION_RST, .bytes_received = HeaderAndRequest};
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
