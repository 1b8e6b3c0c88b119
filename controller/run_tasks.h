// RunTasks: every task of a run without storing them one by one: its layout's (derived from
// the plan and the agents it was planned over) and the explicit ones added later (idle
// discovery's rounds, stored). Positions are 0-based (task index - 1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "controller/schedule_compiler.h"
#include "controller/store.h"
#include "core/task_id.h"

namespace rstmesh {

// "run-7" <-> 7: a run's id and its number (the upper half of its task ids); 0 for an id
// of another form.
std::string RunIdFor(uint64_t run_number);
uint64_t RunNumberOf(const std::string& run_id);

class RunTasks {
 public:
  RunTasks() = default;
  // The run's layout and the stored tasks past it (stored tasks inside the layout, as runs
  // kept before layouts have them, are the layout's own and ignored).
  RunTasks(const RunRecord& record, uint32_t run_number, const std::vector<TaskRecord>& stored);
  // With the layout compiled already (from the same record).
  RunTasks(std::shared_ptr<const TaskLayout> layout, uint32_t run_number,
           const std::vector<TaskRecord>& stored);

  size_t size() const { return layout_->size() + explicit_.size(); }
  const TaskLayout& layout() const { return *layout_; }
  bool is_explicit(uint32_t position) const { return position >= layout_->size(); }

  uint64_t TaskIdAt(uint32_t position) const { return TaskId(run_number_, position + 1).raw(); }
  // Its initiator and responder as indices into agents().
  uint32_t SourceAt(uint32_t position) const;
  uint32_t TargetAt(uint32_t position) const;
  const std::string& Agent(uint32_t index) const { return agents_[index]; }
  size_t agent_count() const { return agents_.size(); }
  int AgentIndex(const std::string& id) const;
  v1::Scenario ScenarioAt(uint32_t position) const;
  const v1::ScenarioParams& ParamsAt(uint32_t position) const;
  // The task as a record (state kPending).
  TaskRecord RecordAt(uint32_t position) const;

  // Appends explicit tasks (their ids must follow on); agents outside the layout's are added.
  void Add(const std::vector<TaskRecord>& tasks);

 private:
  struct Explicit {
    uint32_t source;
    uint32_t target;
    v1::Scenario scenario;
    v1::ScenarioParams params;
  };
  uint32_t IndexOf(const std::string& id);

  uint32_t run_number_ = 0;
  std::shared_ptr<const TaskLayout> layout_ = std::make_shared<TaskLayout>();
  std::vector<std::string> agents_;  // the layout's, then any only explicit tasks name
  std::vector<Explicit> explicit_;
};

}  // namespace rstmesh
