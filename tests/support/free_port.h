// A loopback TCP port nothing listens on now, for servers that must be told their port (a
// PostgreSQL or Prometheus server a test starts): bound and released, so it may be taken by
// another before the server binds it; callers retry on another port when the server fails.
#pragma once

namespace rstmesh::testing {

int FreeLoopbackPort();  // 0 if none could be had

}  // namespace rstmesh::testing
