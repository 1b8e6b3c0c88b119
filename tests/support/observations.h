// Tasks and observations as agents report them, judged against the catalogue as agents
// judge theirs: for tests of joining, judging, findings and reports.
#pragma once

#include <cstdint>
#include <string>

#include "controller/store.h"
#include "core/scenario.h"

namespace rstmesh::testing {

inline TaskRecord TaskOf(v1::Scenario scenario, std::string source = "a", std::string target = "b",
                         uint64_t task_id = 7, TaskState state = TaskState::kDone) {
  TaskRecord task;
  task.task_id = task_id;
  task.source = std::move(source);
  task.target = std::move(target);
  task.scenario = scenario;
  task.params = ResolveParams(*FindScenario(scenario), {});
  task.state = state;
  return task;
}

// As the agent sends it, before judging.
inline v1::Observation RawObs(v1::Scenario scenario, v1::Role role, v1::ClosureClass closure,
                              int err, v1::Stage stage, v1::LocalAction action, uint64_t received,
                              uint64_t task_id = 7) {
  v1::Observation obs;
  obs.set_task_id(task_id);
  obs.set_scenario(scenario);
  obs.set_role(role);
  obs.set_observed(closure);
  obs.set_error_number(err);
  obs.set_stage(stage);
  obs.set_action(action);
  obs.set_bytes_received(received);
  return obs;
}

// Judged against the catalogue as the agent judges its own.
inline v1::Observation Obs(v1::Scenario scenario, v1::Role role, v1::ClosureClass closure, int err,
                           v1::Stage stage, v1::LocalAction action, uint64_t received,
                           uint64_t task_id = 7) {
  v1::Observation obs = RawObs(scenario, role, closure, err, stage, action, received, task_id);
  const ScenarioDef& def = *FindScenario(scenario);
  Judge(def, ResolveParams(def, {}), obs);
  return obs;
}

inline v1::Observation CleanResponder(v1::Scenario s, v1::LocalAction action, uint64_t received,
                                      uint64_t task_id = 7) {
  return Obs(s, v1::ROLE_RESPONDER, v1::CLOSURE_NONE, 0, v1::STAGE_UNSPECIFIED, action, received,
             task_id);
}

}  // namespace rstmesh::testing
