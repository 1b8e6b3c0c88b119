#include "core/wall_time.h"

#include "absl/time/time.h"

namespace rstmesh {

std::string Rfc3339(int64_t unix_ms) {
  if (unix_ms == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

}  // namespace rstmesh
