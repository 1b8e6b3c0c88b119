// The scenarios of docs/scenarios.md, one file each. Only core/scenario.cc calls these;
// everyone else uses FindScenario() / AllScenarios().
#pragma once

#include <optional>

#include "core/scenario.h"
#include "core/wire_header.h"

namespace rstmesh::scenarios {

const ScenarioDef& GracefulClose();        // S1
const ScenarioDef& AbortiveClose();        // S2
const ScenarioDef& UnreadDataClose();      // S3
const ScenarioDef& WriteAfterPeerClose();  // S4
const ScenarioDef& HalfClose();            // S5
const ScenarioDef& Refused();              // S6
const ScenarioDef& SilentDrop();           // S7
const ScenarioDef& IdleHold();             // S8
const ScenarioDef& ResetMidTransfer();     // S9

// Byte counts a role must have read, for Expectation::bytes_received.
inline std::optional<uint64_t> ResponseBytes(const v1::ScenarioParams& p) {
  return p.response_bytes();
}
inline std::optional<uint64_t> HeaderOnly(const v1::ScenarioParams&) { return kHeaderSize; }
inline std::optional<uint64_t> HeaderAndRequest(const v1::ScenarioParams& p) {
  return kHeaderSize + p.request_bytes();
}

// Steps several scenarios share (steps.cc).
// Reads the rest of a response that must end with the peer's FIN or an error, and records
// what ended it. More than `limit` bytes is a PROTOCOL_ERROR.
asio::awaitable<void> ReadUntilClosed(RoleContext& ctx, uint64_t limit);
// Initiator: writes request_bytes, marks the trigger, then ReadUntilClosed(limit).
asio::awaitable<void> RequestThenReadUntilClosed(RoleContext& ctx, uint64_t limit);
// Responder: reads request_bytes (by `deadline`), writes response_bytes. False when either
// step ended badly (already recorded).
asio::awaitable<bool> ReadRequestAndAnswer(RoleContext& ctx, Clock::time_point deadline);

}  // namespace rstmesh::scenarios
