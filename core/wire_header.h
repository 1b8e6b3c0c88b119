// The test header: the fixed-size, versioned first bytes an initiator sends on the data
// port. It carries everything the responder needs to play its part, so the responder never
// asks the controller anything. Layout (network byte order, 64 bytes):
//
//   0  magic u32 "RSM1"     4  version u16        6  scenario u16
//   8  task id u64         16  request_bytes u32  20  response_bytes u32
//  24  idle_ms u32         28  read_limit u32     32  authenticator [32]
//
// The authenticator is reserved for per-run keys; until they exist it must be all zero.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

inline constexpr uint32_t kHeaderMagic = 0x52534D31;  // "RSM1"
inline constexpr uint16_t kHeaderVersion = 1;
inline constexpr size_t kHeaderSize = 64;
inline constexpr size_t kAuthenticatorSize = 32;

struct TestHeader {
  uint16_t version = kHeaderVersion;
  v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
  uint64_t task_id = 0;
  v1::ScenarioParams params;
  std::array<uint8_t, kAuthenticatorSize> authenticator{};
};

// Why a header was rejected; the responder counts each reason separately.
enum class HeaderRejection {
  kNone,
  kBadMagic,
  kBadVersion,
  kBadScenario,
  kBadAuthenticator,
};

std::array<uint8_t, kHeaderSize> EncodeHeader(const TestHeader& header);

// Parses and validates exactly kHeaderSize bytes: magic, version, a scenario id the
// catalogue knows, and the authenticator. Scenario parameters are checked separately by
// the catalogue (ValidateParams in core/scenario.h). On failure returns kInvalidArgument
// naming the field, and sets `*rejection` when given.
absl::StatusOr<TestHeader> DecodeHeader(std::span<const uint8_t> bytes,
                                        HeaderRejection* rejection = nullptr);

}  // namespace rstmesh
