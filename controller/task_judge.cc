#include "controller/task_judge.h"

#include "controller/packet_evidence.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/accounting.h"
#include "core/closure.h"
#include "core/scenario.h"

namespace rstmesh {
namespace {

bool SawReset(const v1::Observation& obs) { return obs.observed() == v1::CLOSURE_RST; }

// An end saw a RST that its peer never sent: the peer reports closing with FIN, or that the
// connection was already gone when it ended (it too was hit by a reset, not sending one).
// A SILENT peer (state dropped) is answered by its host's RST, which is genuine.
bool ForgedReset(const v1::Observation& seen_by, const v1::Observation& peer) {
  return SawReset(seen_by) &&
         (peer.action() == v1::ACTION_FIN || peer.action() == v1::ACTION_NOTHING);
}

}  // namespace

absl::string_view JudgedByName(JudgedBy by) {
  using enum JudgedBy;
  switch (by) {
    case kAgentLost:
      return "agent_lost";
    case kNoInitiator:
      return "no_initiator";
    case kResponderSilent:
      return "responder_silent";
    case kPeerLostNoReset:
      return "peer_lost";
    case kPeerLostReset:
      return "peer_lost_reset";
    case kInitiatorStalled:
      return "initiator_stalled";
    case kResponderStalled:
      return "responder_stalled";
    case kUnknownScenario:
      return "unknown_scenario";
    case kInitiatorUnsupported:
      return "initiator_unsupported";
    case kResponderUnsupported:
      return "responder_unsupported";
    case kInitiatorLocalError:
      return "initiator_local_error";
    case kResponderLocalError:
      return "responder_local_error";
    case kNoResponder:
      return "no_responder";
    case kPass:
      return "pass";
    case kDeviation:
      return "deviation";
  }
  return "unknown";
}

Symptom SymptomOf(const ScenarioDef& def, const v1::ScenarioParams& params,
                  const v1::TaskResult& result) {
  Symptom symptom;
  if (result.judged_by() == JudgedByName(JudgedBy::kPeerLostReset)) {
    symptom.peer_lost = true;
    symptom.observed = result.initiator().observed();
    return symptom;
  }
  const v1::Observation& initiator = result.initiator();
  const bool initiator_off = !initiator.matched();
  const v1::Observation& off = initiator_off ? initiator : result.responder();
  symptom.observed = off.observed();
  symptom.responder = !initiator_off;
  symptom.at_connect = off.stage() == v1::STAGE_CONNECT;
  symptom.forged = result.forged_reset();
  const Expectation& want = initiator_off ? def.initiator : def.responder;
  if (want.bytes_received != nullptr) {
    const std::optional<uint64_t> expected = want.bytes_received(ResolveParams(def, params));
    symptom.cut_short = expected && off.bytes_received() < *expected;
  }
  return symptom;
}

EndView EndView::Of(const v1::Observation& obs) {
  EndView view;
  view.observed = static_cast<uint8_t>(obs.observed() & 0xf);
  view.matched = obs.matched();
  view.stalled = obs.agent_stalled_ms() != 0;
  view.reached = obs.stage() != v1::STAGE_CONNECT;
  return view;
}

Judgement JudgeEnds(v1::Scenario scenario, TaskState state, const EndView* initiator,
                    const EndView* responder) {
  using enum JudgedBy;
  auto inconclusive = [](v1::TaskOutcome outcome, JudgedBy by) {
    return Judgement{v1::VERDICT_INCONCLUSIVE, outcome, by};
  };
  if (state == TaskState::kAgentLost) return inconclusive(v1::OUTCOME_AGENT_LOST, kAgentLost);
  if (initiator == nullptr) return inconclusive(v1::OUTCOME_TIMEOUT, kNoInitiator);
  if (state == TaskState::kResponderSilent) {
    return inconclusive(v1::OUTCOME_AGENT_LOST, kResponderSilent);
  }
  if (state == TaskState::kPeerLost) {
    // The responder's agent went away mid-test; only the initiator's account exists. A RST
    // on the initiator's next segment is the signature of a host that lost the connection's
    // state (crash and reboot); anything else (a dying process's own FIN, say) says nothing
    // about the path.
    if (initiator->observed != v1::CLOSURE_RST) {
      return inconclusive(v1::OUTCOME_AGENT_LOST, kPeerLostNoReset);
    }
    return {v1::VERDICT_DEVIATION, v1::OUTCOME_AGENT_LOST, kPeerLostReset};
  }
  // An end whose process was frozen around the test (its host hung) answered late or
  // missed its own deadlines: nothing in that is the path's doing.
  if (initiator->stalled) return inconclusive(v1::OUTCOME_AGENT_LOST, kInitiatorStalled);
  if (responder != nullptr && responder->stalled) {
    return inconclusive(v1::OUTCOME_AGENT_LOST, kResponderStalled);
  }
  const ScenarioDef* def = FindScenario(scenario);
  if (def == nullptr) return inconclusive(v1::OUTCOME_COMPLETED, kUnknownScenario);
  if (initiator->unsupported()) return inconclusive(v1::OUTCOME_COMPLETED, kInitiatorUnsupported);
  if (initiator->observed == v1::CLOSURE_LOCAL_ERROR) {
    return inconclusive(v1::OUTCOME_COMPLETED, kInitiatorLocalError);
  }
  if (responder != nullptr && responder->unsupported()) {
    return inconclusive(v1::OUTCOME_COMPLETED, kResponderUnsupported);
  }
  if (responder != nullptr && responder->observed == v1::CLOSURE_LOCAL_ERROR) {
    return inconclusive(v1::OUTCOME_COMPLETED, kResponderLocalError);
  }
  // The responder sees nothing when the connection never reached it. Without its account a
  // clean initiator view cannot be confirmed, but a deviating one still stands on its own.
  if (def->responder.observes && initiator->reached && responder == nullptr && initiator->matched) {
    return inconclusive(v1::OUTCOME_TIMEOUT, kNoResponder);
  }
  if (initiator->matched && (responder == nullptr || responder->matched)) {
    return {v1::VERDICT_PASS, v1::OUTCOME_COMPLETED, kPass};
  }
  return {v1::VERDICT_DEVIATION, v1::OUTCOME_COMPLETED, kDeviation};
}

namespace {

// Judges the task from the observations already in `result` (has_*: whether each arrived)
// and words the verdict.
void JudgeInto(const TaskRecord& task, v1::TaskResult& result, bool has_initiator,
               bool has_responder) {
  using enum JudgedBy;
  result.set_task_id(task.task_id);
  result.set_source(task.source);
  result.set_target(task.target);
  result.set_scenario(task.scenario);
  if (has_initiator && has_responder) {
    JoinByteAccounting(*result.mutable_initiator(), *result.mutable_responder());
  }
  const v1::Observation& initiator = result.initiator();  // the default one if none arrived
  const EndView initiator_view = EndView::Of(initiator);
  const EndView responder_view = EndView::Of(result.responder());
  const Judgement judged =
      JudgeEnds(task.scenario, task.state, has_initiator ? &initiator_view : nullptr,
                has_responder ? &responder_view : nullptr);
  result.set_verdict(judged.verdict);
  result.set_outcome(judged.outcome);
  result.set_judged_by(std::string(JudgedByName(judged.by)));
  auto stalled = [&](const v1::Observation& obs) {
    return absl::StrCat("the ", RoleName(obs.role()), "'s agent (",
                        obs.role() == v1::ROLE_INITIATOR ? task.source : task.target,
                        ") was frozen for ",
                        absl::StrFormat("%.1f", obs.agent_stalled_ms() / 1000.0),
                        " s around the test (its host hung or the process was stopped); not "
                        "judged as a path finding");
  };
  auto local_error = [&](const v1::Observation& obs) {
    return absl::StrCat("the ", RoleName(obs.role()), " could not run it: ", obs.detail());
  };
  switch (judged.by) {
    case kAgentLost:
      return result.set_diagnosis("an agent of this task was lost");
    case kNoInitiator:
      return result.set_diagnosis("no observation from the initiator in time");
    case kResponderSilent:
      return result.set_diagnosis(
          absl::StrCat("the responder's agent (", task.target,
                       ") was not heard from after the initiator's test (its host hung or the "
                       "agent stopped reporting); not judged as a path finding"));
    case kPeerLostNoReset:
      return result.set_diagnosis(
          absl::StrCat("the responder's agent went away mid-test; the initiator saw ",
                       ClosureName(initiator.observed())));
    case kPeerLostReset:
      result.set_cause(std::string(CauseOf(Cause::kHostLostState).id));
      return result.set_diagnosis(
          "the responder's host lost the connection mid-test (crashed and rebooted): the next "
          "segment met a host without the socket");
    case kInitiatorStalled:
      return result.set_diagnosis(stalled(initiator));
    case kResponderStalled:
      return result.set_diagnosis(stalled(result.responder()));
    case kUnknownScenario:
      return result.set_diagnosis("unknown scenario");
    case kInitiatorUnsupported:
      return result.set_diagnosis(initiator.detail());
    case kResponderUnsupported:
      return result.set_diagnosis(result.responder().detail());
    case kInitiatorLocalError:
      return result.set_diagnosis(local_error(initiator));
    case kResponderLocalError:
      return result.set_diagnosis(local_error(result.responder()));
    case kNoResponder:
      return result.set_diagnosis("no observation from the responder in time");
    case kPass:
      return;
    case kDeviation:
      break;
  }
  // Which end deviated tells what to explain; the initiator's view comes first.
  const v1::Observation& off = !initiator.matched() ? initiator : result.responder();
  const ScenarioDef& s = *FindScenario(task.scenario);
  const bool forged_at_initiator =
      has_responder && ForgedReset(initiator, result.responder()) && !initiator.matched();
  const bool forged_at_responder =
      has_responder && ForgedReset(result.responder(), initiator) && !result.responder().matched();
  result.set_forged_reset(forged_at_initiator || forged_at_responder);
  const Cause cause = NarrowestCause(s, SymptomOf(s, task.params, result));
  result.set_cause(std::string(CauseOf(cause).id));
  std::string diagnosis;
  if (cause == Cause::kUnexplained) {
    v1::ClosureClass expected =
        off.role() == v1::ROLE_INITIATOR ? s.initiator.closure : s.responder.closure;
    diagnosis = absl::StrCat("observed ", ClosureName(off.observed()), " where Linux predicts ",
                             ClosureName(expected));
  } else {
    diagnosis = std::string(CauseOf(cause).title);
  }
  if (forged_at_initiator || forged_at_responder) {
    const v1::Observation& peer = forged_at_initiator ? result.responder() : initiator;
    absl::StrAppend(&diagnosis, "; the reset came from the path, not the peer: the ",
                    forged_at_initiator ? "initiator" : "responder", " saw RST, but the ",
                    forged_at_initiator ? "responder" : "initiator", " never sent one (it ",
                    peer.action() == v1::ACTION_FIN ? "closed with FIN" : "sent nothing", ")");
  }
  result.set_diagnosis(diagnosis);
  for (const bool at_initiator : {true, false}) {
    if (!at_initiator && !has_responder) continue;
    const v1::Observation& end = at_initiator ? initiator : result.responder();
    if (end.matched()) continue;
    for (std::string& line : PacketEvidence(end, at_initiator ? "initiator" : "responder",
                                            at_initiator ? task.target : task.source)) {
      result.add_evidence(std::move(line));
    }
  }
}

}  // namespace

v1::TaskResult JudgeTask(const TaskRecord& task, const std::optional<v1::Observation>& initiator,
                         const std::optional<v1::Observation>& responder) {
  v1::TaskResult result;
  if (initiator) *result.mutable_initiator() = *initiator;
  if (responder) *result.mutable_responder() = *responder;
  JudgeInto(task, result, initiator.has_value(), responder.has_value());
  return result;
}

v1::TaskResult JudgeTask(const TaskRecord& task, std::optional<v1::Observation>&& initiator,
                         std::optional<v1::Observation>&& responder) {
  v1::TaskResult result;
  if (initiator) *result.mutable_initiator() = std::move(*initiator);
  if (responder) *result.mutable_responder() = std::move(*responder);
  JudgeInto(task, result, initiator.has_value(), responder.has_value());
  return result;
}

}  // namespace rstmesh
