#include "core/endpoint.h"

#include <gtest/gtest.h>

namespace rstmesh {
namespace {

TEST(EndpointTest, ParsesHostAndPortForms) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  } cases[] = {
      {"127.0.0.2:7000", "127.0.0.2", 7000},
      {"127.0.0.2", "127.0.0.2", 7402},
      {"[::1]:7001", "::1", 7001},
      {"::1", "::1", 7402},
      {"[::1]", "::1", 7402},
      {"agent-3.example:9", "agent-3.example", 9},
      {"fe80::1:2", "fe80::1:2", 7402},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto parsed = ParseHostPort(c.text, 7402);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->host, c.host);
    EXPECT_EQ(parsed->port, c.port);
  }
}

TEST(EndpointTest, RejectsBadForms) {
  for (const char* text : {"", ":7402", "[::1", "[::1]x", "h:0", "h:65536", "h:abc", "h:"}) {
    SCOPED_TRACE(text);
    auto parsed = ParseHostPort(text, 7402);
    EXPECT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(EndpointTest, FormatsBothFamilies) {
  using boost::asio::ip::make_address;
  using boost::asio::ip::tcp;
  EXPECT_EQ(FormatEndpoint(tcp::endpoint(make_address("127.0.0.2"), 7402)), "127.0.0.2:7402");
  EXPECT_EQ(FormatEndpoint(tcp::endpoint(make_address("::1"), 7402)), "[::1]:7402");
}

}  // namespace
}  // namespace rstmesh
