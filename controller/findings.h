// A run's findings: every judged task is counted per path (ordered agent pair) and scenario
// as it streams past; at the end each path gets its differential diagnosis
// (path_diagnosis.h), the paths that share a cause are placed on the smallest elements of
// the fleet that explain them (finding_places.h), and the tasks that could not be judged
// are counted by reason. Memory grows with the paths and the deviations, not the tasks.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "controller/finding_places.h"
#include "controller/store.h"
#include "rstmesh/v1/control.pb.h"

namespace rstmesh {

class FindingsBuilder {
 public:
  // The run's agents as planned, with their labels.
  explicit FindingsBuilder(const std::vector<v1::AgentInfo>& agents);

  // Counts one judged task.
  void Add(const TaskRecord& task, const v1::TaskResult& result);

  struct Findings {
    std::vector<v1::Finding> findings;  // most deviating tasks first
    std::vector<v1::InconclusiveReason> inconclusive;
  };
  Findings Build() const;

 private:
  // By scenario id (the catalogue's are 1..9): 40 bytes a path, 40 MB for the million
  // paths of a 1,000-agent full mesh.
  static constexpr size_t kScenarioSlots = 10;
  struct Count {
    uint16_t pass = 0;  // saturating: a path with more than 65,535 tasks of one scenario
    uint16_t deviated = 0;
  };
  using PathTally = std::array<Count, kScenarioSlots>;  // by scenario id
  struct SymptomCount {
    uint16_t code;
    uint32_t tasks;
    uint64_t first_task;
    // The packet evidence of the first task that had some, with its id.
    uint64_t evidence_task = 0;
    std::vector<std::string> evidence;
  };
  struct Reason {
    uint64_t tasks = 0;
    std::map<std::string, uint64_t> agents;
    std::vector<uint64_t> examples;
  };
  uint32_t IndexOf(const std::string& id);

  FleetAgents agents_;
  absl::flat_hash_map<std::string, uint32_t> index_;
  absl::flat_hash_map<uint64_t, PathTally> paths_;  // by PathKey::raw
  // (path, scenario) -> the symptoms its deviating tasks showed.
  absl::flat_hash_map<std::pair<uint64_t, int>, absl::InlinedVector<SymptomCount, 1>> symptoms_;
  std::map<std::string, Reason> reasons_;  // by judged_by
  // idle_hold per path: the longest idle that passed and the shortest that deviated. An idle
  // timer resets or drops only connections that idled longer than it: if a longer idle
  // survived a shorter one that deviated, it was no idle timer.
  struct IdleRange {
    uint32_t longest_passed = 0;
    uint32_t shortest_deviated = UINT32_MAX;
  };
  absl::flat_hash_map<uint64_t, IdleRange> idle_;
};

}  // namespace rstmesh
