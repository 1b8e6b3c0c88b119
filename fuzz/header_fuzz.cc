// libFuzzer: the data port's test header, as a responder sees it: decode, authenticate
// under a key ring, resolve and check the scenario's parameters.
#include <cstdint>
#include <cstring>

#include "core/run_keys.h"
#include "core/scenario.h"
#include "core/wire_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rstmesh;
  static KeyRing* ring = [] {
    auto* r = new KeyRing;
    RunKey key{};  // a fixed key, so that inputs can carry valid authenticators
    for (uint32_t run = 0; run < 4; ++run) {
      r->Put(run, key, KeyRing::Clock::now() + std::chrono::hours(24));
    }
    return r;
  }();
  HeaderRejection why = HeaderRejection::kNone;
  absl::StatusOr<TestHeader> header = DecodeHeader(std::span<const uint8_t>(data, size), &why);
  if (!header.ok() || size < kHeaderSize) return 0;
  std::array<uint8_t, kHeaderSize> raw;
  std::memcpy(raw.data(), data, kHeaderSize);
  ring->Verify(raw, *header);
  if (const ScenarioDef* def = FindScenario(header->scenario)) {
    ValidateParams(*def, ResolveParams(*def, header->params)).IgnoreError();
  }
  return 0;
}
