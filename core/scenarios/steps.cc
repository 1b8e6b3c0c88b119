// Steps several scenarios share.
#include "absl/strings/str_cat.h"
#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {

asio::awaitable<void> ReadUntilClosed(RoleContext& ctx, uint64_t limit) {
  IoResult result = co_await ctx.conn().ReadToEnd(limit, ctx.StepDeadline());
  if (result.ok()) {
    ctx.Record(v1::CLOSURE_PROTOCOL_ERROR, 0, v1::STAGE_READ, result.look);
    ctx.Note(absl::StrCat("peer sent more than the ", limit, " bytes asked for"));
    co_return;
  }
  ctx.Observe(result, v1::STAGE_READ);
}

asio::awaitable<void> RequestThenReadUntilClosed(RoleContext& ctx, uint64_t limit) {
  IoResult sent = co_await ctx.conn().WriteFiller(ctx.params().request_bytes(), ctx.StepDeadline());
  if (ctx.Observe(sent, v1::STAGE_WRITE)) co_return;
  ctx.MarkTrigger();
  co_await ReadUntilClosed(ctx, limit);
}

asio::awaitable<bool> ReadRequestAndAnswer(RoleContext& ctx, Clock::time_point deadline) {
  TestConnection& conn = ctx.conn();
  // No co_await inside a co_return operand: g++ 12 miscompiles it.
  IoResult request = co_await conn.Discard(ctx.params().request_bytes(), deadline);
  if (ctx.Observe(request, v1::STAGE_READ)) co_return false;
  IoResult response = co_await conn.WriteFiller(ctx.params().response_bytes(), ctx.StepDeadline());
  const bool answered = !ctx.Observe(response, v1::STAGE_WRITE);
  co_return answered;
}

}  // namespace rstmesh::scenarios
