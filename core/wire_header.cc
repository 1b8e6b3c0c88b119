#include "core/wire_header.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | p[i];
  return v;
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

absl::Status Reject(HeaderRejection reason, HeaderRejection* out, std::string message) {
  if (out != nullptr) *out = reason;
  return absl::InvalidArgumentError(std::move(message));
}

}  // namespace

std::array<uint8_t, kHeaderSize> EncodeHeader(const TestHeader& header) {
  std::array<uint8_t, kHeaderSize> out{};
  uint8_t* p = out.data();
  Put32(p + 0, kHeaderMagic);
  Put16(p + 4, header.version);
  Put16(p + 6, static_cast<uint16_t>(header.scenario));
  Put64(p + 8, header.task_id);
  Put32(p + 16, header.params.request_bytes());
  Put32(p + 20, header.params.response_bytes());
  Put32(p + 24, header.params.idle_ms());
  Put32(p + 28, header.params.read_limit());
  Put64(p + 32, header.nonce);
  std::copy(header.authenticator.begin(), header.authenticator.end(), p + kSignedSize);
  return out;
}

absl::StatusOr<TestHeader> DecodeHeader(std::span<const uint8_t> bytes,
                                        HeaderRejection* rejection) {
  if (rejection != nullptr) *rejection = HeaderRejection::kNone;
  if (bytes.size() != kHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("header: need ", kHeaderSize, " bytes, got ", bytes.size()));
  }
  const uint8_t* p = bytes.data();
  if (uint32_t magic = Get32(p); magic != kHeaderMagic) {
    return Reject(HeaderRejection::kBadMagic, rejection,
                  absl::StrCat("header.magic: 0x", absl::Hex(magic), " is not 0x",
                               absl::Hex(kHeaderMagic), " (not an rstmesh test connection)"));
  }
  TestHeader header;
  header.version = Get16(p + 4);
  if (header.version != kHeaderVersion) {
    return Reject(HeaderRejection::kBadVersion, rejection,
                  absl::StrCat("header.version: ", header.version,
                               " is not supported (this agent speaks ", kHeaderVersion, ")"));
  }
  uint16_t scenario = Get16(p + 6);
  if (scenario == v1::SCENARIO_UNSPECIFIED || !v1::Scenario_IsValid(scenario)) {
    return Reject(HeaderRejection::kBadScenario, rejection,
                  absl::StrCat("header.scenario: unknown scenario id ", scenario));
  }
  header.scenario = static_cast<v1::Scenario>(scenario);
  header.task_id = Get64(p + 8);
  header.params.set_request_bytes(Get32(p + 16));
  header.params.set_response_bytes(Get32(p + 20));
  header.params.set_idle_ms(Get32(p + 24));
  header.params.set_read_limit(Get32(p + 28));
  header.nonce = Get64(p + 32);
  std::copy(p + kSignedSize, p + kHeaderSize, header.authenticator.begin());
  return header;
}

}  // namespace rstmesh
