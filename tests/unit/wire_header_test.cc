#include "core/wire_header.h"

#include <gtest/gtest.h>

namespace rstmesh {
namespace {

TestHeader Sample() {
  TestHeader h;
  h.scenario = v1::SCENARIO_RESET_MID_TRANSFER;
  h.task_id = 0x0102030405060708ull;
  h.params.set_request_bytes(4 << 20);
  h.params.set_response_bytes(17);
  h.params.set_idle_ms(350000);
  h.params.set_read_limit(65536);
  return h;
}

TEST(WireHeaderTest, RoundTripsEveryField) {
  auto bytes = EncodeHeader(Sample());
  ASSERT_EQ(bytes.size(), kHeaderSize);
  EXPECT_EQ(bytes[0], 'R');
  EXPECT_EQ(bytes[3], '1');
  auto decoded = DecodeHeader(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->version, kHeaderVersion);
  EXPECT_EQ(decoded->scenario, v1::SCENARIO_RESET_MID_TRANSFER);
  EXPECT_EQ(decoded->task_id, 0x0102030405060708ull);
  EXPECT_EQ(decoded->params.request_bytes(), 4u << 20);
  EXPECT_EQ(decoded->params.response_bytes(), 17u);
  EXPECT_EQ(decoded->params.idle_ms(), 350000u);
  EXPECT_EQ(decoded->params.read_limit(), 65536u);
}

TEST(WireHeaderTest, TaskIdIsBigEndianOnTheWire) {
  auto bytes = EncodeHeader(Sample());
  EXPECT_EQ(bytes[8], 0x01);
  EXPECT_EQ(bytes[15], 0x08);
}

struct RejectCase {
  const char* name;
  size_t offset;
  uint8_t value;
  HeaderRejection reason;
  const char* field;
};

TEST(WireHeaderTest, RejectsEachBadFieldWithItsReason) {
  const RejectCase cases[] = {
      {"magic", 0, 'X', HeaderRejection::kBadMagic, "header.magic"},
      {"version", 5, 9, HeaderRejection::kBadVersion, "header.version"},
      {"scenario zero", 7, 0, HeaderRejection::kBadScenario, "header.scenario"},
      {"scenario unknown", 7, 200, HeaderRejection::kBadScenario, "header.scenario"},
  };
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto bytes = EncodeHeader(Sample());
    bytes[c.offset] = c.value;
    HeaderRejection why = HeaderRejection::kNone;
    auto decoded = DecodeHeader(bytes, &why);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(why, c.reason);
    EXPECT_NE(decoded.status().message().find(c.field), absl::string_view::npos)
        << decoded.status();
  }
}

TEST(WireHeaderTest, RejectsWrongSize) {
  auto bytes = EncodeHeader(Sample());
  EXPECT_FALSE(DecodeHeader(std::span<const uint8_t>(bytes.data(), 63)).ok());
}

}  // namespace
}  // namespace rstmesh
