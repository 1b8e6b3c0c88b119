// S6 refused: the initiator connects to the responder's port that is held bound but not
// listening: the SYN is answered with a RST and connect() fails ECONNREFUSED. The responder
// never sees a connection.
#include <cerrno>

#include "core/scenarios/catalogue.h"

namespace rstmesh::scenarios {
namespace {

asio::awaitable<void> Initiator(RoleContext& ctx) {
  // Reached only when the connect succeeded: something listens on the closed port.
  ctx.Note("the closed port accepted the connection");
  co_return;
}

}  // namespace

const ScenarioDef& Refused() {
  static const ScenarioDef def = [] {
    ScenarioDef d{.id = v1::SCENARIO_REFUSED,
                  .name = "refused",
                  .code = "S6",
                  .summary = "connect to a closed port: RST answers the SYN"};
    d.targets_closed_port = true;
    d.initiator = {.closure = v1::CLOSURE_REFUSED,
                   .error_number = ECONNREFUSED,
                   .stages = StageBit(v1::STAGE_CONNECT),
                   .action = v1::ACTION_NOTHING};
    d.responder = {.observes = false};
    // The RST answering the SYN: dropped by a DROP policy for closed ports, or with every RST.
    d.effects = {
        {Cause::kClosedPortDropped, v1::CLOSURE_TIMEOUT, Certainty::kAlways,
         CauseEffect::kAtConnect},
        {Cause::kResetsDropped, v1::CLOSURE_TIMEOUT, Certainty::kAlways, CauseEffect::kAtConnect},
    };
    d.run_initiator = Initiator;
    return d;
  }();
  return def;
}

}  // namespace rstmesh::scenarios
