// Observations as a real agent reports them, for benchmarks that simulate agents.
#pragma once

#include <cstdint>
#include <string>

#include "rstmesh/v1/closure.pb.h"

namespace rstmesh::bench {

// What a real agent reports for a clean graceful_close (sizes as on the wire).
// Filled in place (`obs` may live on an arena).
inline void FillRealistic(v1::Observation& obs, uint64_t task_id, v1::Role role,
                          const std::string& peer) {
  obs.set_task_id(task_id);
  obs.set_role(role);
  obs.set_scenario(v1::SCENARIO_GRACEFUL_CLOSE);
  const bool initiator = role == v1::ROLE_INITIATOR;
  obs.set_expected(initiator ? v1::CLOSURE_FIN : v1::CLOSURE_NONE);
  obs.set_observed(obs.expected());
  obs.set_stage(initiator ? v1::STAGE_READ : v1::STAGE_UNSPECIFIED);
  obs.set_action(v1::ACTION_FIN);  // both ends close with a FIN
  obs.set_bytes_sent(initiator ? 576 : 1024);
  obs.set_bytes_received(initiator ? 1024 : 576);
  obs.set_time_to_observe_us(180 + task_id % 97);
  v1::TcpInfoSnapshot* info = obs.mutable_tcp_info();
  info->set_state(initiator ? 8 : 7);
  info->set_rtt_us(45 + task_id % 13);
  info->set_rttvar_us(20);
  info->set_bytes_acked(initiator ? 576 : 1024);
  info->set_bytes_received(initiator ? 1024 : 576);
  info->set_poll_revents(0x2005);
  obs.set_peer(peer);
  obs.set_matched(true);
}

inline v1::Observation Realistic(uint64_t task_id, v1::Role role, const std::string& peer) {
  v1::Observation obs;
  FillRealistic(obs, task_id, role, peer);
  return obs;
}

}  // namespace rstmesh::bench
