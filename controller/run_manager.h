// RunManager: turns plans into runs and runs to their end. Compiles a plan into its task
// layout (controller/schedule_compiler.h), stores the run, sends each initiating agent its
// schedule (the agent paces itself within the limits and reports how far it got), takes
// observations from AgentHub (stored before acked) into its live runs (controller/live_run.h:
// where both ends are joined and judged), and closes tasks that time out or whose agent is
// lost, so that a run always finishes. A restarted controller resumes the runs its store
// says are still running.
//
// Thread-safe. Start() runs the scheduler on its own thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_registry.h"
#include "controller/idle_discovery.h"
#include "controller/live_run.h"
#include "controller/run_ownership.h"
#include "controller/schedule_pacer.h"
#include "controller/store.h"
#include "controller/store_writer.h"
#include "core/monotonic_clock.h"
#include "core/task_id.h"
#include "rstmesh/v1/report.pb.h"

namespace rstmesh {

class RunManager {
 public:
  using Clock = std::chrono::steady_clock;
  // Schedules queued for agents and not yet written (SchedulePacer), in bytes on the wire.
  static constexpr size_t kScheduleBytesInFlight = 4 << 20;
  // Packet evidence a run keeps as pcap (the packets of about 16,000 deviating tests);
  // beyond it observations keep the headers they carry, not the pcap.
  static constexpr uint64_t kEvidenceBytesPerRun = 16 << 20;
  struct Options {
    std::chrono::milliseconds tick{20};
    // How long the responder's side may lag the initiator's: its steps end on their own
    // deadlines (idle plus an io timeout) when the path swallowed what it waited for.
    std::chrono::milliseconds responder_grace{12000};
    // After a run is (re)loaded, agents get this long to (re)connect before the tasks of one
    // that is still missing end as AGENT_LOST (a restarted controller starts with none).
    std::chrono::milliseconds reconnect_grace{15000};
    std::string zone_label = "zone";
    // Limits, so that deliberate resets cannot flood a host or trip intrusion detection
    // (the agents enforce the last two; schedules carry them):
    int max_parallel_runs = 16;                      // more are refused
    double max_closures_per_second = 500;            // test connections an agent starts
    std::chrono::milliseconds min_pair_spacing{10};  // between two tasks of one pair
    // Where time comes from (tests drive it by hand); null: the steady clock.
    const MonotonicClock* clock = nullptr;
    // Replicas sharing the database (controller/replica_link.h); null: this controller owns
    // every run. With replicas, runs become live here only when this replica takes their
    // lease (Adopt), and observations reach their owner through the database (ApplyStored).
    RunOwnership* ownership = nullptr;
  };

  // How often each limit held something back (for /metrics).
  struct LimitCounts {
    uint64_t parallel_runs_refused = 0;  // StartRun refused
    // As the agents report them (ScheduleProgress):
    uint64_t rate_delayed = 0;     // tests that waited for their agent's closure rate
    uint64_t spacing_delayed = 0;  // tests that waited for their pair's spacing
  };
  LimitCounts limit_counts();

  RunManager(Store* store, AgentRegistry* registry, Options options);
  ~RunManager();

  // What /metrics counts of a run as it goes: its judged tasks so far (counts only grow),
  // with every (scenario, verdict, zone pair) the run can produce present from its start.
  struct RunResults {
    std::string run_id;
    std::string plan;  // the plan's name
    RunCounts counts;
    RunProgress progress;
    int64_t created_unix_ms = 0;
    bool finished = false;  // its final state is stored; no further update comes
  };
  // Called on the scheduler thread without locks held: once a second with the live runs
  // whose counts changed (and each new run, at 0), and once as a run ends.
  using ResultsListener = std::function<void(std::vector<RunResults>)>;
  void set_on_results(ResultsListener listener) { on_results_ = std::move(listener); }

  // Loads runs still marked running and starts the scheduler.
  absl::Status Start();
  void Stop();

  // kInvalidArgument / kFailedPrecondition from validation, naming the field. With a
  // `request_id` that started a run before, that run's id (nothing new starts).
  absl::StatusOr<std::string> StartRun(const v1::Plan& plan, const std::string& request_id = "");
  absl::Status CancelRun(const std::string& run_id);
  // Retention: deletes a run that has ended, from the store and from what this manager
  // remembers of it. kFailedPrecondition while it runs.
  absl::Status DeleteRun(const std::string& run_id);

  // AgentHub's sink: queues the batch (run ids filled from task ids) for the store writer
  // and returns at once; after the commit the runs are updated and `done` runs (OK: ack;
  // kUnavailable: the agent holds the batch and resends it). Never blocks on the store.
  // The observations are done with when it returns (AgentHubService::ObservationSink).
  using Observations = google::protobuf::RepeatedPtrField<v1::Observation>;
  void Ingest(const std::string& agent_id, Observations& observations,
              std::function<void(const absl::Status&)> done);
  // Ingest, waiting for the outcome (tests, fuzzing).
  absl::Status OnObservations(const std::string& agent_id,
                              const std::vector<v1::Observation>& observations);
  // The store writer's state (for /metrics, run status and tests).
  StoreWriter::Health store_health() const { return writer_->health(); }
  // The agent's lease expired: its open tasks end (AGENT_LOST, or judged from the initiator
  // alone where the responder vanished mid-test).
  void OnAgentLost(const std::string& agent_id);
  // A new process took over the agent's id: the tests the old one had under way are gone
  // with it; its remaining tasks go to the new process.
  void OnAgentRestarted(const std::string& agent_id);
  // An agent (re)registered: it gets the keys of the running runs it takes part in and its
  // schedules in them, from where it (or its predecessor) got to.
  void OnAgentRegistered(const std::string& agent_id);
  // How far an agent got through its schedules: the tasks it started (taken in by the next
  // tick).
  void OnProgress(const std::string& agent_id, const v1::ScheduleProgress& progress);

  absl::StatusOr<RunProgress> Progress(const std::string& run_id);

  // Replicas (Options::ownership), called by the replica link:
  // This replica took the lease of a running run: it is loaded from the store and goes on
  // (blocks on the store). Nothing if it is live here already or no longer running.
  absl::Status Adopt(const std::string& run_id);
  // This replica lost the lease of a run (another owns it now): it stops being live here,
  // without writing anything of it.
  void Release(const std::string& run_id);
  // Observations of runs live here, stored by any replica (the same one twice is harmless).
  void ApplyStored(const std::vector<v1::Observation>& observations);
  // An agent's progress in a run live here, from whichever replica it reported to.
  void TakeProgress(const std::string& agent_id, uint32_t run_number, uint64_t started);
  // Whether observations stored by other replicas wait for this one to take them: while
  // they do, runs pause (no timeouts) as when the store cannot write.
  void SetArrivalsBehind(bool behind);
  // Runs other replicas created (or added tasks to): ingest here accepts their tasks.
  void KnowRuns(const std::vector<std::pair<uint32_t, uint64_t>>& totals);
  // The runs live here and still running (their leases are renewed), with their counts.
  std::vector<RunProgress> LiveRuns();
  absl::StatusOr<RunReport> Report(const std::string& run_id, const ReportOptions& options = {});

 private:
  void Loop();
  // Takes in the progress reports that came since the last tick.
  void ApplyProgress() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyProgress(const std::string& agent_id, const v1::ScheduleProgress& progress)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The agent started its work items [0, started) in the run.
  void ApplyStarted(const std::string& agent_id, uint32_t run_number, uint64_t started,
                    Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A running run as the store holds it, made live (without the lock: it reads the store).
  absl::StatusOr<LiveRun> Load(const RunRecord& run);
  // Returns the runs that ended since the last tick.
  std::vector<RunResults> Tick() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Once a second (and when the agents changed): deadlines, task timeouts, and the tasks
  // whose agents are gone. Every open task of the run.
  void Sweep(LiveRun& run, Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `agent` its schedule in `run`: every numbered part, resuming after the work that
  // is started or over, and the explicit tasks it has not reported. Returns the bytes sent.
  size_t SendSchedule(LiveRun& run, const std::string& agent) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the due schedules that pacer_ lets go now.
  void PumpSchedules(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `source` these explicit tasks (positions) as an amendment; returns the bytes sent.
  size_t SendExplicit(LiveRun& run, const std::string& source, const std::vector<uint32_t>& indices)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells every initiator of `run` where the agents in run.retell listen now.
  void Retell(LiveRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The common fields of a schedule message of `run`.
  void FillSchedule(const LiveRun& run, v1::Schedule& part) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks a task as started by its agent now (what its responder was then, for liveness).
  void MarkStarted(LiveRun& run, uint32_t position, Clock::time_point now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The responder id (ResponderId) of the process registered as agent `agent` (its index in
  // the run) now; 0 if none.
  uint32_t CurrentResponder(LiveRun& run, uint32_t agent) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finalize(LiveRun& run, uint32_t position, TaskState state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A task whose initiator has reported: finalizes it once the responder's side is settled
  // (its observation, or none expected, or its agent proven alive or silent).
  void Settle(LiveRun& run, uint32_t position, Clock::time_point now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Clock::time_point Now() const { return clock_->Now(); }
  // Advances idle discovery first: a run whose search adds probes has not finished.
  void MaybeFinish(LiveRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdvanceDiscovery(LiveRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `agent_id` is registered now under another process than `incarnation`.
  bool ReturnedAsNewProcess(const std::string& agent_id, uint32_t incarnation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A task whose responder's process was replaced mid-test: judged from the initiator alone
  // (kPeerLost) when the host itself restarted, as its own kernel gives no sign of the
  // connection; only the agent restarted: its kernel closed the connection (kAgentLost).
  TaskState ResponderReplaced(const LiveRun& run, uint32_t position)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A small number for an incarnation string, the same for the same string (0 for "").
  uint32_t Intern(const std::string& incarnation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A responder as tasks hold it: its process and host incarnations (Intern()ed) as one
  // number (0 for neither), and back.
  uint32_t ResponderId(uint32_t incarnation, uint32_t host) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::pair<uint32_t, uint32_t> ResponderOf(const LiveTask& task) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return task.responder_id < responders_.size() ? responders_[task.responder_id]
                                                  : std::pair<uint32_t, uint32_t>{0, 0};
  }
  // Sends the run's key to `agent` (valid until the run's deadline and a little), or its
  // revocation.
  void SendKey(const LiveRun& run, const std::string& agent, bool revoke)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live run of a task and the task's position; null if it is not live.
  LiveRun* FindTask(uint64_t task_id, uint32_t* position) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes a run live: what the store held of it (states, observations) is in `run` already;
  // the tasks that ended are judged, agents get its keys and their schedules.
  void Install(LiveRun run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What a report of `run_id` reads besides the store (a live run's state from memory).
  absl::StatusOr<ReportSource> SourceFor(const std::string& run_id);
  // Updates the live runs with observations that were just stored.
  void Apply(const std::vector<Arrival>& stored);
  // While the store cannot write (or, with replicas, what other replicas stored waits to be
  // read), runs pause (no timeouts); when it can again, open tasks' clocks move on by the
  // pause so that none times out for it.
  bool PausedForStore(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  AgentRegistry* const registry_;
  const Options options_;
  const MonotonicClock* const clock_;
  std::unique_ptr<StoreWriter> writer_;  // every write to the store goes through it
  std::thread thread_;
  ResultsListener on_results_;  // set before Start()

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_run_number_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, LiveRun> runs_ ABSL_GUARDED_BY(mu_);  // active runs only
  // Schedules due to agents, sent a few MiB at a time (Tick): a large run's, or a fleet's
  // reconnecting at once, are not all built and queued together.
  SchedulePacer pacer_ ABSL_GUARDED_BY(mu_){kScheduleBytesInFlight, std::chrono::seconds(2)};
  // Runs that finished while this controller ran: their final counts (a few bytes each).
  std::map<std::string, RunProgress> finished_ ABSL_GUARDED_BY(mu_);
  // Every run in the store by number, with its task count: ingest checks that a task exists
  // without reading the store, and without the lock that joining holds (taken after mu_
  // where both are).
  absl::Mutex known_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::map<uint32_t, uint64_t> known_runs_ ABSL_GUARDED_BY(known_mu_);
  // Packet evidence (pcap bytes) each run has kept: bounded by kEvidenceBytesPerRun.
  std::map<uint32_t, uint64_t> evidence_bytes_ ABSL_GUARDED_BY(known_mu_);
  // Progress reports as they came, for the next tick (OnProgress).
  static constexpr size_t kMaxProgressQueued = 100'000;
  absl::Mutex progress_mu_;
  std::vector<std::pair<std::string, v1::ScheduleProgress>> progress_in_
      ABSL_GUARDED_BY(progress_mu_);
  struct Started {
    std::string agent_id;
    uint32_t run_number = 0;
    uint64_t started = 0;
  };
  std::vector<Started> started_in_ ABSL_GUARDED_BY(progress_mu_);           // TakeProgress
  std::map<std::string, std::string> run_of_request_ ABSL_GUARDED_BY(mu_);  // request id -> run
  std::optional<Clock::time_point> paused_since_ ABSL_GUARDED_BY(mu_);
  bool arrivals_behind_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, uint32_t> interned_
      ABSL_GUARDED_BY(mu_);  // incarnation -> number
  // (incarnation, host) by responder id (0: unknown), and back.
  std::vector<std::pair<uint32_t, uint32_t>> responders_ ABSL_GUARDED_BY(mu_) = {{0, 0}};
  absl::flat_hash_map<uint64_t, uint32_t> responder_ids_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> lost_agents_ ABSL_GUARDED_BY(mu_);  // gone and not back yet
  // The registry's members as of `agents_generation_` (refreshed by Tick when it changes).
  std::map<std::string, bool> members_ ABSL_GUARDED_BY(mu_);  // id -> connected
  uint64_t agents_generation_ ABSL_GUARDED_BY(mu_) = ~uint64_t{0};
  Clock::time_point last_sweep_ ABSL_GUARDED_BY(mu_);
  LimitCounts limit_counts_ ABSL_GUARDED_BY(mu_);
  // Each agent process's last reported delay counts (rate, spacing), to add the increments.
  std::map<std::string, std::pair<uint64_t, uint64_t>> reported_delays_ ABSL_GUARDED_BY(mu_);
};

// The run number a task id carries in its upper 32 bits.
uint64_t RunNumberOfTask(uint64_t task_id);

}  // namespace rstmesh
