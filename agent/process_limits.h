// Process-wide limits an agent needs: a thousand concurrent test connections need more
// file descriptors than the usual soft limit of 1024.
#pragma once

namespace rstmesh {

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns the new soft limit.
long RaiseFileLimit();

}  // namespace rstmesh
