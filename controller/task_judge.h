// Joins both ends' observations of one task and judges them: PASS, DEVIATION with a
// diagnosis from the catalogue's table of what the path can change, or INCONCLUSIVE.
// Only the two-ended view can tell a reset the peer sent from one the path forged.
//
// The verdict needs a few bits of each end (EndView): a live run keeps those, not the
// observations, while it waits for the other end, and judges from them (JudgeEnds). A report
// judges the stored observations (JudgeTask) through the same function and adds the words.
#pragma once

#include <cstdint>
#include <optional>

#include "controller/store.h"
#include "core/scenario.h"
#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

// What the verdict needs of one end's observation: one byte.
struct EndView {
  uint8_t observed : 4 = 0;  // v1::ClosureClass
  bool matched : 1 = false;  // saw what Linux predicts
  bool stalled : 1 = false;  // its agent was frozen around the test
  bool reached : 1 = false;  // got past connect
  static EndView Of(const v1::Observation& obs);
  bool unsupported() const { return observed == v1::CLOSURE_UNSUPPORTED; }
};
static_assert(sizeof(EndView) == 1);

// Which rule decided the verdict (a report words each).
enum class JudgedBy : uint8_t {
  kAgentLost,         // the task's state: an agent was lost before it ran
  kNoInitiator,       // the initiator's observation never came
  kResponderSilent,   // the responder's agent was not heard from after the test
  kPeerLostNoReset,   // the responder went away mid-test; the initiator saw no RST
  kPeerLostReset,     // ... and the initiator's next segment met a RST
  kInitiatorStalled,  // an end's agent was frozen around the test
  kResponderStalled,
  kUnknownScenario,
  kInitiatorUnsupported,  // an end could not run it (a capability is missing)
  kResponderUnsupported,
  kInitiatorLocalError,  // an end could not run it (a local error)
  kResponderLocalError,
  kNoResponder,  // the responder's account is missing and the initiator's is clean
  kPass,
  kDeviation,
};

// "responder_silent": the rule's name in reports (TaskResult.judged_by).
absl::string_view JudgedByName(JudgedBy by);

struct Judgement {
  v1::Verdict verdict;
  v1::TaskOutcome outcome;
  JudgedBy by;
};

// The verdict of a task from its state and what arrived of each end (null: nothing).
Judgement JudgeEnds(v1::Scenario scenario, TaskState state, const EndView* initiator,
                    const EndView* responder);

// `initiator` / `responder` are the stored observations, if any arrived. `task.state`
// says whether the task timed out or lost an agent.
v1::TaskResult JudgeTask(const TaskRecord& task, const std::optional<v1::Observation>& initiator,
                         const std::optional<v1::Observation>& responder);
// The same, moving the observations into the result instead of copying them.
v1::TaskResult JudgeTask(const TaskRecord& task, std::optional<v1::Observation>&& initiator,
                         std::optional<v1::Observation>&& responder);

// What the deviating end of a judged task showed, for telling causes apart.
Symptom SymptomOf(const ScenarioDef& def, const v1::ScenarioParams& params,
                  const v1::TaskResult& result);

}  // namespace rstmesh
