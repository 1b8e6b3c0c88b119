// S1 graceful_close: the responder reads the request, answers, and close()s: one FIN.
#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

asio::awaitable<void> Initiator(RoleContext& ctx) {
  co_await RequestThenReadUntilClosed(ctx, ctx.params().response_bytes());
}

asio::awaitable<void> Responder(RoleContext& ctx) {
  const bool answered = co_await ReadRequestAndAnswer(ctx, ctx.StepDeadline());
  if (answered) {
    ctx.set_action(ctx.conn().Close());
  }
}

}  // namespace

const ScenarioDef& GracefulClose() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_GRACEFUL_CLOSE,
                  .name = "graceful_close",
                  .code = "S1",
                  .summary = "responder answers, then close(): FIN, nothing lost"};
    d.defaults.set_request_bytes(512);
    d.defaults.set_response_bytes(1024);
    d.initiator = {.closure = v1::CLOSURE_FIN,
                   .stages = StageBit(v1::STAGE_READ),
                   .action = v1::ACTION_FIN,
                   .bytes_received = ResponseBytes};
    d.responder = {
        .closure = v1::CLOSURE_NONE, .action = v1::ACTION_FIN, .bytes_received = HeaderAndRequest};
    // A proxy that ends with RST where the responder closed; a forged RST cuts the response short.
    d.effects = {
        {Cause::kResetInsteadOfFin, v1::CLOSURE_RST, Certainty::kAlways, CauseEffect::kWhole},
        {Cause::kForgedReset, v1::CLOSURE_RST, Certainty::kMay, CauseEffect::kForged},
    };
    d.run_initiator = Initiator;
    d.run_responder = Responder;
    return d;
  }();
  return def;
}

}  // namespace rstmesh::scenarios
