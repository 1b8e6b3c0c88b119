#include "core/accounting.h"

namespace rstmesh {
namespace {

void Account(v1::Observation& self, const v1::Observation& peer) {
  self.set_peer_bytes_read(peer.bytes_received());
  const uint64_t acked = self.tcp_info().bytes_acked();
  self.set_bytes_lost(acked > peer.bytes_received() ? acked - peer.bytes_received() : 0);
}

}  // namespace

void JoinByteAccounting(v1::Observation& initiator, v1::Observation& responder) {
  Account(initiator, responder);
  Account(responder, initiator);
}

}  // namespace rstmesh
