#include "core/closure.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {

absl::string_view StripPrefix(const std::string& name, absl::string_view prefix) {
  absl::string_view view(name);
  if (view.substr(0, prefix.size()) == prefix) view.remove_prefix(prefix.size());
  return view;
}

}  // namespace

v1::ClosureClass ClassifyErrno(int error_number, bool fin_seen) {
  switch (error_number) {
    case 0:
      return v1::CLOSURE_NONE;
    case ECONNRESET:
      return v1::CLOSURE_RST;
    case EPIPE:
      // EPIPE without a FIN means our own side was already shut down or reset earlier.
      return fin_seen ? v1::CLOSURE_FIN_THEN_RST : v1::CLOSURE_RST;
    case ECONNREFUSED:
      return v1::CLOSURE_REFUSED;
    case ETIMEDOUT:
      return v1::CLOSURE_TIMEOUT;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    // A firewall's answer: ICMPv6 administratively prohibited / reject-route is EACCES
    // (IPv4's prohibited codes are EHOSTUNREACH); a local netfilter rule dropping the SYN is
    // EPERM. Not the agent's own failure.
    case EACCES:
    case EPERM:
      return v1::CLOSURE_UNREACHABLE;
    case ECONNABORTED:
      return v1::CLOSURE_ABORTED;
    default:
      return v1::CLOSURE_LOCAL_ERROR;
  }
}

std::string ErrnoName(int error_number) {
  if (error_number == 0) return "";
  if (const char* name = strerrorname_np(error_number); name != nullptr) return name;
  return absl::StrCat("errno ", error_number);
}

absl::string_view ClosureName(v1::ClosureClass closure) {
  return StripPrefix(v1::ClosureClass_Name(closure), "CLOSURE_");
}

absl::string_view StageName(v1::Stage stage) {
  switch (stage) {
    case v1::STAGE_CONNECT:
      return "connect";
    case v1::STAGE_READ:
      return "read";
    case v1::STAGE_WRITE:
      return "write";
    default:
      return "-";
  }
}

absl::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_INITIATOR:
      return "initiator";
    case v1::ROLE_RESPONDER:
      return "responder";
    default:
      return "?";
  }
}

absl::string_view ActionName(v1::LocalAction action) {
  return StripPrefix(v1::LocalAction_Name(action), "ACTION_");
}

}  // namespace rstmesh
