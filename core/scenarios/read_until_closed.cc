#include "core/scenarios/catalogue.h"

#include "absl/strings/str_cat.h"

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

}  // namespace rstmesh::scenarios
