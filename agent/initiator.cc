#include "agent/initiator.h"

#include <cerrno>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/endpoint.h"
#include "core/wire_header.h"

namespace rstmesh {
namespace {

v1::Observation CannotRun(const Task& task, absl::string_view why) {
  v1::Observation obs;
  obs.set_task_id(task.task_id);
  obs.set_role(v1::ROLE_INITIATOR);
  obs.set_scenario(task.scenario);
  obs.set_observed(v1::CLOSURE_LOCAL_ERROR);
  obs.set_action(v1::ACTION_NOTHING);
  obs.set_peer(FormatEndpoint(task.peer));
  obs.set_detail(std::string(why));
  return obs;
}

uint64_t NewNonce() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

}  // namespace

asio::awaitable<v1::Observation> RunInitiator(Task task) {
  const ScenarioDef* def = FindScenario(task.scenario);
  if (def == nullptr) {
    co_return CannotRun(task, absl::StrCat("unknown scenario id ", task.scenario));
  }
  v1::ScenarioParams params = ResolveParams(*def, task.params);
  if (absl::Status valid = ValidateParams(*def, params); !valid.ok()) {
    co_return CannotRun(task, valid.message());
  }
  RoleContext ctx(v1::ROLE_INITIATOR, *def, task.task_id, params, task.timeouts,
                  /*tcp_repair=*/false);
  asio::ip::tcp::endpoint target = task.peer;
  if (def->targets_closed_port) {
    target.port(task.closed_port != 0 ? task.closed_port
                                      : static_cast<uint16_t>(task.peer.port() + 1));
  }
  auto connected =
      co_await TestConnection::Connect(target, task.source, Clock::now() + task.timeouts.connect);
  if (connected.connection == nullptr) {
    ctx.Observe(connected.result, v1::STAGE_CONNECT);
    v1::Observation obs = ctx.Finish();
    obs.set_peer(FormatEndpoint(target));
    co_return obs;
  }
  ctx.set_connection(connected.connection);
  if (!def->targets_closed_port) {
    TestHeader header;
    header.scenario = def->id;
    header.task_id = task.task_id;
    header.params = params;
    header.nonce = NewNonce();
    auto bytes = EncodeHeader(header);
    if (task.key) SignHeader(bytes, *task.key);
    IoResult sent = co_await ctx.conn().Write(bytes, ctx.StepDeadline());
    if (ctx.Observe(sent, v1::STAGE_WRITE)) co_return ctx.Finish();
  }
  if (def->run_initiator != nullptr) co_await def->run_initiator(ctx);
  co_return ctx.Finish();
}

}  // namespace rstmesh
