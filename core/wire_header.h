// The test header: the fixed-size, versioned first bytes an initiator sends on the data
// port. It carries everything the responder needs to play its part, so the responder never
// asks the controller anything. Layout (network byte order, 64 bytes):
//
//   0  magic u32 "RSM1"     4  version u16        6  scenario u16
//   8  task id u64         16  request_bytes u32  20  response_bytes u32
//  24  idle_ms u32         28  read_limit u32     32  nonce u64
//  40  authenticator [24]: HMAC-SHA256 under the run's key over bytes 0..39, truncated
//
// The run is the task id's upper 32 bits; the nonce is random per connection, so a header
// seen before is a replay (core/run_keys.h).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

inline constexpr uint32_t kHeaderMagic = 0x52534D31;  // "RSM1"
inline constexpr uint16_t kHeaderVersion = 2;
inline constexpr size_t kHeaderSize = 64;
inline constexpr size_t kSignedSize = 40;  // the bytes the authenticator covers
inline constexpr size_t kAuthenticatorSize = kHeaderSize - kSignedSize;

struct TestHeader {
  uint16_t version = kHeaderVersion;
  v1::Scenario scenario = v1::SCENARIO_UNSPECIFIED;
  uint64_t task_id = 0;
  v1::ScenarioParams params;
  uint64_t nonce = 0;
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
// catalogue knows. The authenticator is checked against the run's key by a KeyRing
// (core/run_keys.h), parameters by the catalogue (ValidateParams in core/scenario.h). On
// failure returns kInvalidArgument naming the field, and sets `*rejection` when given.
absl::StatusOr<TestHeader> DecodeHeader(std::span<const uint8_t> bytes,
                                        HeaderRejection* rejection = nullptr);

}  // namespace rstmesh
