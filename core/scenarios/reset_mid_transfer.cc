// S9 reset_mid_transfer: the initiator streams bulk data; the responder reads read_limit
// bytes and aborts (SO_LINGER {1,0}). The initiator sees ECONNRESET on its next write or
// read; what the responder's kernel acknowledged beyond what it read is lost.
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

constexpr std::chrono::milliseconds kMidTransferWait{200};

asio::awaitable<void> Initiator(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  ctx.MarkTrigger();
  IoResult sent = co_await conn.WriteFiller(ctx.params().request_bytes(), ctx.StepDeadline());
  if (ctx.Observe(sent, v1::STAGE_WRITE)) co_return;
  co_await ReadUntilClosed(ctx, 0);
}

asio::awaitable<void> Responder(RoleContext& ctx) {
  TestConnection& conn = ctx.conn();
  if (!ctx.Observe(co_await conn.Discard(ctx.params().read_limit(), ctx.StepDeadline()),
                   v1::STAGE_READ)) {
    // Abort mid-transfer: once more of the upload has arrived (acknowledged, never read),
    // as on any path with data in flight. On loopback the reader can otherwise win the race
    // and abort between two of the initiator's writes.
    co_await conn.WaitUntil([](const SocketLook& look) { return look.unread > 0; },
                            Clock::now() + kMidTransferWait);
  }
  ctx.set_action(conn.Close(/*abortive=*/true));
}

absl::Status Validate(const v1::ScenarioParams& p) {
  if (p.read_limit() >= p.request_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.read_limit: ", p.read_limit(), " must be below params.request_bytes (",
                     p.request_bytes(), ") for the reset to land mid-transfer"));
  }
  return absl::OkStatus();
}

}  // namespace

const ScenarioDef& ResetMidTransfer() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_RESET_MID_TRANSFER,
                  .name = "reset_mid_transfer",
                  .code = "S9",
                  .summary = "responder aborts after read_limit bytes of a bulk upload: RST"};
    d.defaults.set_request_bytes(4u << 20);
    d.defaults.set_read_limit(64u << 10);
    d.initiator = {.closure = v1::CLOSURE_RST,
                   .error_number = ECONNRESET,
                   .stages = StageBit(v1::STAGE_READ) | StageBit(v1::STAGE_WRITE),
                   .action = v1::ACTION_NOTHING};
    d.responder = {.closure = v1::CLOSURE_NONE,
                   .action = v1::ACTION_RST,
                   .bytes_received = [](const v1::ScenarioParams& p) -> std::optional<uint64_t> {
                     return kHeaderSize + p.read_limit();
                   }};
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
