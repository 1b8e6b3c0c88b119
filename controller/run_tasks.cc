#include "controller/run_tasks.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace rstmesh {

std::string RunIdFor(uint64_t run_number) { return absl::StrCat("run-", run_number); }

uint64_t RunNumberOf(const std::string& run_id) {
  uint64_t number = 0;
  return absl::SimpleAtoi(absl::StripPrefix(run_id, "run-"), &number) ? number : 0;
}

RunTasks::RunTasks(const RunRecord& record, uint32_t run_number,
                   const std::vector<TaskRecord>& stored)
    : RunTasks(std::make_shared<const TaskLayout>(TaskLayout::Compile(record.plan, record.agents)),
               run_number, stored) {}

RunTasks::RunTasks(std::shared_ptr<const TaskLayout> layout, uint32_t run_number,
                   const std::vector<TaskRecord>& stored)
    : run_number_(run_number), layout_(std::move(layout)), agents_(layout_->agents()) {
  std::vector<TaskRecord> later;
  for (const TaskRecord& task : stored) {
    if (TaskId::FromRaw(task.task_id).index() > layout_->size()) later.push_back(task);
  }
  Add(later);
}

uint32_t RunTasks::IndexOf(const std::string& id) {
  if (const int known = AgentIndex(id); known >= 0) return static_cast<uint32_t>(known);
  agents_.push_back(id);
  return static_cast<uint32_t>(agents_.size() - 1);
}

int RunTasks::AgentIndex(const std::string& id) const {
  if (const int index = layout_->AgentIndex(id); index >= 0) return index;
  for (size_t i = layout_->agents().size(); i < agents_.size(); ++i) {
    if (agents_[i] == id) return static_cast<int>(i);
  }
  return -1;
}

void RunTasks::Add(const std::vector<TaskRecord>& tasks) {
  for (const TaskRecord& task : tasks) {
    explicit_.push_back({IndexOf(task.source), IndexOf(task.target), task.scenario, task.params});
  }
}

uint32_t RunTasks::SourceAt(uint32_t position) const {
  return is_explicit(position) ? explicit_[position - layout_->size()].source
                               : layout_->Ends(position + 1).first;
}

uint32_t RunTasks::TargetAt(uint32_t position) const {
  return is_explicit(position) ? explicit_[position - layout_->size()].target
                               : layout_->Ends(position + 1).second;
}

v1::Scenario RunTasks::ScenarioAt(uint32_t position) const {
  return is_explicit(position) ? explicit_[position - layout_->size()].scenario
                               : layout_->BlockOf(position + 1).scenario;
}

const v1::ScenarioParams& RunTasks::ParamsAt(uint32_t position) const {
  return is_explicit(position) ? explicit_[position - layout_->size()].params
                               : layout_->BlockOf(position + 1).params;
}

TaskRecord RunTasks::RecordAt(uint32_t position) const {
  TaskRecord record;
  record.task_id = TaskIdAt(position);
  record.source = agents_[SourceAt(position)];
  record.target = agents_[TargetAt(position)];
  record.scenario = ScenarioAt(position);
  record.params = ParamsAt(position);
  return record;
}

}  // namespace rstmesh
