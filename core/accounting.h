// Joins the two ends' observations of one task for byte accounting: each end learns what
// its peer's application read, and how many of its bytes the peer's kernel acknowledged
// but the peer's application never read (lost, as in unread_data_close or
// reset_mid_transfer). The controller joins with this; tests do too.
#pragma once

#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

// Sets peer_bytes_read and bytes_lost on both. The observations must share a task id.
void JoinByteAccounting(v1::Observation& initiator, v1::Observation& responder);

}  // namespace rstmesh
