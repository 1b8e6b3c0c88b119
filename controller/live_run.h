// LiveRun: what the controller holds of a run while it is under way, and where both ends
// of a task are joined and judged. Per task 16 bytes (LiveTask): whether it started and
// when, which responder it dialled, one byte of each end's observation (the observations
// are in the store), whether it is final. Per run: the layout tasks derive from, each
// initiator's progress, counters and the per-zone verdict counts for /metrics, and what the
// agents were told (paused, retold, dropped targets). Not thread-safe: RunManager holds
// its lock around every use.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "controller/idle_discovery.h"
#include "controller/run_report.h"
#include "controller/run_tasks.h"
#include "controller/schedule_compiler.h"
#include "controller/store.h"
#include "controller/task_judge.h"
#include "core/run_keys.h"

namespace rstmesh {

// What the controller holds per task of a live run: 16 bytes. Everything else about a
// task derives from its position (RunTasks) or is in the store.
struct LiveTask {
  // ms since the run was loaded: when its agent started it (as its progress says) and
  // when the initiator's observation arrived.
  uint32_t assigned_ms = 0;
  uint32_t initiator_ms = 0;
  // The responder it dialled: its process and host incarnations, interned as a pair by
  // RunManager (0: not known).
  uint32_t responder_id = 0;
  uint8_t state = 0;          // TaskState, once final and not kDone
  bool assigned : 1 = false;  // started by its agent (as its progress says), or sent to it
  bool initiator_seen : 1 = false;
  bool responder_seen : 1 = false;
  bool final : 1 = false;
  bool peer_lost : 1 = false;  // the responder's agent went away mid-test
  // What each end's observation said, as far as the verdict needs it (the observations
  // themselves are in the store).
  EndView initiator;
  EndView responder;
  // The initiator saw what Linux predicts, or could not test.
  bool InitiatorClean() const { return initiator.matched || initiator.unsupported(); }
};
static_assert(sizeof(LiveTask) == 16);

// What a live run takes of a stored observation: a few bytes (the observation itself only
// for an idle_hold initiator's, whose probe idle discovery reads).
struct Arrival {
  uint64_t task_id = 0;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  EndView view;
  std::string target_incarnation;  // an initiator's: the responder it dialled
  std::shared_ptr<const v1::Observation> probe;
  static Arrival Of(const v1::Observation& obs);
};

// One initiating agent's schedule in a run.
struct InitiatorWork {
  uint64_t size = 0;          // work items of its numbered parts (TaskLayout::WorkAt)
  uint64_t started = 0;       // the agent's last progress: items [0, started) started
  uint32_t layout_index = 0;  // in TaskLayout::agents()
};

inline constexpr uint32_t kResponderUnknown = ~uint32_t{0};

// A live run's judged tasks as small numbers: copied under the run manager's lock, worded
// for /metrics outside it.
struct RunCounts {
  // (scenario, initiator's observed class or -1, verdict, source zone, target zone): no
  // strings per task.
  std::map<std::tuple<int, int, int, uint32_t, uint32_t>, uint64_t> counts;
  std::vector<std::string> zones;             // by number
  std::vector<const ScenarioDef*> scenarios;  // the plan's
  // Counted as /metrics labels them (zones, class names), with every scenario of the plan x
  // verdict x pair of the run's zones present (at 0 if none yet).
  ResultCounts Word() const;
};

struct LiveRun {
  using Clock = std::chrono::steady_clock;

  // A run as it starts to be live (nothing arrived yet), from its record, the tasks stored
  // one by one and its compiled layout (null: compiled here).
  static LiveRun Make(const RunRecord& record, const std::vector<TaskRecord>& stored,
                      std::shared_ptr<const TaskLayout> layout, const std::string& zone_label,
                      Clock::time_point now);

  // Joining: takes a stored observation into its task (not final); false if that end had
  // reported already. `now_ms`: Ms() of its arrival.
  bool Take(uint32_t position, const Arrival& arrival, uint32_t now_ms);
  // Marks a task final in `state` (kDone: both ends or what arrived tell all there is) and
  // judges it from what arrived of it; false if it was final already.
  bool Close(uint32_t position, TaskState state);
  // Whether the responder of a task whose initiator has reported reports too: the scenario
  // has it observe, and the connection got to it.
  bool ResponderExpected(uint32_t position) const;
  // Whether a task loaded from the store had ended already (its state, or both ends in).
  bool EndedInStore(uint32_t position) const;
  // How long a started task may take before it times out.
  std::chrono::milliseconds TimeoutOf(uint32_t position) const;
  // The judged tasks so far, for /metrics.
  RunCounts Counts() const;
  // Progress as counted so far (state: the record's once finished, else running).
  RunProgress Progress() const;

  RunRecord record;
  RunTasks tasks;                 // what each task is, by position (TaskId::index() - 1)
  std::vector<LiveTask> live;     // where each stands, by position
  std::vector<IdleProbe> probes;  // idle discovery only: what each probe told
  std::map<std::string, InitiatorWork> work;  // by initiating agent
  // The tasks whose initiator has reported and that are not final: judged when the
  // responder's report is in, or its side is settled otherwise (Settle).
  absl::flat_hash_set<uint32_t> awaiting;  // by position
  // Judged tasks counted by small numbers, for /metrics (RunCounts::counts).
  std::map<std::tuple<int, int, int, uint32_t, uint32_t>, uint64_t> counts;
  std::vector<std::string> zones;       // zone names ("" for none), by number
  std::vector<uint32_t> zone_of_agent;  // by agent index (RunTasks)
  size_t next_open = 0;                 // tasks before it are all final
  // Each agent's responder id (RunManager::CurrentResponder) as of the registry's
  // generation `responders_generation`, by agent index; kResponderUnknown: not looked up.
  std::vector<uint32_t> responders_now;
  uint64_t responders_generation = ~uint64_t{0};
  size_t final_count = 0;
  size_t published_final = ~size_t{0};  // final_count as /metrics was last told (none yet)
  uint64_t pass = 0, deviation = 0, inconclusive = 0;  // as judged
  bool cancelled = false;
  // All tasks final; leaves runs_ once its final state is in the store (finish_place).
  bool finished = false;
  uint64_t finish_place = 0;
  Clock::time_point deadline;
  Clock::time_point loaded_at;
  uint32_t Ms(Clock::time_point t) const {
    return static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(t - loaded_at).count());
  }
  Clock::time_point At(uint32_t ms) const { return loaded_at + std::chrono::milliseconds(ms); }
  int concurrency = 4;  // per initiator agent, unless the plan sets it
  // Idle discovery (resolved), and whether a probe has told something since the search
  // last advanced.
  std::optional<v1::IdleDiscovery> discovery;
  bool discovery_dirty = false;
  uint32_t number = 0;                              // "run-7": 7, the upper half of its task ids
  RunKey key{};                                     // signs this run's test headers
  std::set<std::string> agent_ids;                  // the agents it was planned over
  std::vector<std::chrono::milliseconds> timeouts;  // per layout block
  // Targets lost mid-run whose initiators were told to skip them.
  std::set<std::string> dropped_targets;
  // Where each agent's data port is, as its initiators were told ("host:port/closed"), and
  // the agents that came back elsewhere (a restarted agent may listen on a new port): the
  // next tick tells the initiators.
  std::map<std::string, std::string> told;
  std::set<std::string> retell;
  // Agents whose tests the initiators were told to hold (not connected: a host that hangs
  // would only make them time out).
  std::set<std::string> paused;

 private:
  // Counts a task that was just closed.
  void Judge(uint32_t position);
};

// The longest a task of `plan` with these parameters may take: every step of the scenario
// hits its own deadline first.
std::chrono::milliseconds TaskTimeout(const v1::Plan& plan, const v1::ScenarioParams& params);

}  // namespace rstmesh
