// S8 idle_hold: the connection idles for idle_ms, then the initiator sends a request, the
// responder answers and closes as in S1. On a clean path nothing happens while idle;
// a middlebox whose idle timer expired shows up as RST or TIMEOUT after the idle period.
#include <poll.h>

#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

asio::awaitable<void> Initiator(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  co_await conn.Sleep(Clock::now() + std::chrono::milliseconds(ctx.params().idle_ms()));
  SocketLook look = conn.Look();
  if (look.state != kTcpEstablished ||
      (look.revents & (POLLIN | POLLERR | POLLHUP | POLLRDHUP)) != 0) {
    ctx.Note("the connection changed while idle");
    co_await ReadUntilClosed(ctx, 0);
    co_return;
  }
  co_await RequestThenReadUntilClosed(ctx, ctx.params().response_bytes());
}

asio::awaitable<void> Responder(RoleContext& ctx) {
  // The request comes only after the idle period.
  const bool answered = co_await ReadRequestAndAnswer(
      ctx, ctx.StepDeadline(std::chrono::milliseconds(ctx.params().idle_ms())));
  if (answered) {
    ctx.set_action(ctx.conn().Close());
  }
}

}  // namespace

const ScenarioDef& IdleHold() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_IDLE_HOLD,
                  .name = "idle_hold",
                  .code = "S8",
                  .summary = "idle for idle_ms, then request/response and FIN"};
    d.defaults.set_request_bytes(512);
    d.defaults.set_response_bytes(1024);
    d.defaults.set_idle_ms(1000);
    d.demo.set_idle_ms(300);
    d.initiator = {.closure = v1::CLOSURE_FIN,
                   .stages = StageBit(v1::STAGE_READ),
                   .action = v1::ACTION_FIN,
                   .bytes_received = ResponseBytes};
    d.responder = {
        .closure = v1::CLOSURE_NONE, .action = v1::ACTION_FIN, .bytes_received = HeaderAndRequest};
    // After the idle period: an expired idle timer resets or drops the next packet.
    d.effects = {
        {Cause::kIdleReset, v1::CLOSURE_RST, Certainty::kAlways, CauseEffect::kAfterConnect},
        {Cause::kIdleDrop, v1::CLOSURE_TIMEOUT, Certainty::kAlways, CauseEffect::kAfterConnect},
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
