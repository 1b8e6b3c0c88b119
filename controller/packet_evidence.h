// Reads the packets an end captured (Observation.evidence) as evidence of who ended its
// connection: the hops the RST or FIN travelled against the peer's own segments (from
// their TTL / hop limit), the device that answered a probe at that distance, the IP ID, and
// where in the peer's stream its sequence number pointed.
#pragma once

#include <string>
#include <vector>

#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

// Plain sentences about `obs`, the account of `role_name` ("initiator") whose peer is
// `peer` (an agent id). Empty when the end has no packets and no note.
std::vector<std::string> PacketEvidence(const v1::Observation& obs, const std::string& role_name,
                                        const std::string& peer);

}  // namespace rstmesh
