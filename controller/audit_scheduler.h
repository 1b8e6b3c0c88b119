// AuditScheduler: continuous audits. Plans with a schedule (rstmeshctl schedule -f PLAN) are
// kept in the store by name; on its own thread the scheduler starts each plan's audit when
// it is due (not while the previous one still runs: that one is counted as skipped), keeps
// the plan's audits to its retention (the store pruned), and works out each finished
// audit's findings against the previous audit of the plan: what is new, what was resolved.
// A restarted controller picks up where the store says it was (an audit due while it was
// down starts once at start, not once per missed time).
//
// Thread-safe. No call waits for the store under a lock the hot path takes; audit
// summaries (a report of two runs each) are built on the scheduler's or the caller's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_registry.h"
#include "controller/audit_schedule.h"
#include "controller/run_manager.h"
#include "controller/store.h"

namespace rstmesh {

class AuditScheduler {
 public:
  struct Options {
    // Wall-clock time, ms since the epoch (cron is wall-clock); null: the system clock.
    std::function<int64_t()> now_unix_ms;
    // How often running audits are checked for their end (and the clock for due times).
    std::chrono::milliseconds poll{500};
    // Where scheduling failures are logged; null: stderr.
    std::function<void(const std::string&)> log;
    // Replicated controllers: whether this replica is the one that starts due audits now
    // (one at a time; null: always). Every replica reads the schedules again from the store
    // every `reload` (and when it becomes the one), so that schedules put through another
    // replica are run and listed.
    std::function<bool()> leads;
    std::chrono::milliseconds reload{10000};
  };

  // A schedule as operators see it.
  struct Info {
    std::string name;
    v1::Plan plan;
    std::string describe;  // "every 15m", "cron '17 3 * * *' (UTC)"
    int64_t interval_s = 0;
    int64_t next_due_unix_ms = 0;  // -1: never again
    int64_t last_due_unix_ms = 0;  // 0: none yet
    std::string current_run;       // the audit under way, if any
    std::string last_error;        // why the last due audit did not start
    uint64_t started = 0, skipped = 0, failed = 0, pruned = 0;  // since this controller started
  };

  // One audit of a plan with its findings against the audit before it.
  struct AuditSummary {
    std::string run_id;
    std::string previous_run;  // "" for the first
    uint32_t findings = 0;     // cause-and-place items
    uint32_t added = 0;        // not in the previous audit
    uint32_t resolved = 0;     // in the previous audit, not in this one
  };

  AuditScheduler(Store* store, RunManager* runs, AgentRegistry* registry, Options options);
  ~AuditScheduler();  // Stop()

  // Loads the schedules and starts the thread.
  absl::Status Start();
  void Stop();

  // Registers (or replaces) the plan's schedule, by plan name, after checking the plan as a
  // run would be (kInvalidArgument naming the field). Its first audit is due at once for an
  // interval, at the next matching minute for cron.
  absl::StatusOr<Info> Put(const v1::Plan& plan);
  // kNotFound if there is no schedule of that name. Its audits stay (and stop being pruned).
  absl::Status Delete(const std::string& name);
  std::vector<Info> List();

  // The finished audit `run_id` against the finished audit of the same plan before it
  // (among `runs`, the plan's runs as stored); cached, as finished runs do not change.
  absl::StatusOr<AuditSummary> Summarize(const std::string& run_id,
                                         const std::vector<RunRecord>& runs);

  // rstmesh_audit_* families for /metrics, per scheduled plan.
  std::string MetricsText();

 private:
  struct Entry {
    ScheduleRecord record;
    AuditSchedule schedule;
    Info info;
    bool summarized = false;  // its newest finished audit's summary is in last_summary_
  };
  void Loop();
  // Reads the schedules from the store: new ones are added, changed ones replaced, deleted
  // ones dropped; an unchanged one keeps its counts.
  absl::Status Reload();
  Entry MakeEntry(const ScheduleRecord& record, const AuditSchedule& schedule,
                  const std::vector<RunRecord>& runs, int64_t now);
  // Starts what is due, notices audits that ended (summary, retention). Without mu_ held
  // across store or report work.
  void Pass();
  void StartDue(const std::string& name, int64_t now);
  void Ended(const std::string& name, const std::string& run_id);
  // After a restart: the summary of the plan's newest finished audit, for /metrics.
  void SummarizeNewest(const std::string& name);
  // Deletes the plan's finished audits beyond its retention.
  void Prune(const std::string& name, const AuditSchedule& schedule);
  int64_t Now() const;
  void Log(const std::string& line) const;

  Store* const store_;
  RunManager* const runs_;
  AgentRegistry* const registry_;
  const Options options_;
  std::thread thread_;

  absl::Mutex mu_;
  absl::CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // by plan name
  bool led_ = false;                                           // Pass's: whether it led last time
  std::chrono::steady_clock::time_point reloaded_;             // Pass's: the last Reload
  std::map<std::string, AuditSummary> summaries_ ABSL_GUARDED_BY(mu_);  // by run id
  // By plan name: its newest finished audit's summary.
  std::map<std::string, AuditSummary> last_summary_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rstmesh
