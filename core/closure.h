// The closure vocabulary in C++: turning what a socket call returned into a closure class,
// and short names for the proto enums ("RST", "read", "ECONNRESET") used in output.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

// Classifies the errno a read, write, connect or SO_ERROR returned, following the kernel
// rules in docs/scenarios.md. `fin_seen` says whether this end had already seen the peer's
// FIN: an EPIPE after a FIN is FIN_THEN_RST (the RST answered data sent after the FIN).
v1::ClosureClass ClassifyErrno(int error_number, bool fin_seen);

// "ECONNRESET" for ECONNRESET; "errno N" for values without a symbolic name; "" for 0.
std::string ErrnoName(int error_number);

// Short names without the proto prefixes: "FIN", "FIN_THEN_RST", "read", "initiator", ...
absl::string_view ClosureName(v1::ClosureClass closure);
absl::string_view StageName(v1::Stage stage);
absl::string_view RoleName(v1::Role role);
absl::string_view ActionName(v1::LocalAction action);

}  // namespace rstmesh
