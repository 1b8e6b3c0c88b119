// Wall-clock times as runs record them (milliseconds since the Unix epoch) and as people and
// tools read them (RFC 3339, UTC).
#pragma once

#include <cstdint>
#include <string>

namespace rstmesh {

// "2026-12-03T04:20:00Z" (second precision, UTC); "" for 0 (not set).
std::string Rfc3339(int64_t unix_ms);

}  // namespace rstmesh
