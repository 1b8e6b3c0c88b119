// ReplicaLink: this controller as one of several replicas that share a PostgreSQL database
// (rstmesh-controller --replicated). Agents and operators connect to any replica; what one
// replica must tell another goes through the database, woken by LISTEN/NOTIFY:
//
// - Leases (rstmesh_leases): each running run is owned by one replica, which renews its
//   lease every second and publishes the run's counts with it; a lease not renewed for
//   `lease` (its replica died) is taken over by another, which loads the run from the store
//   and goes on. A replica that stops hands its leases over at once.
// - The agent directory (rstmesh_agents): which replica holds each agent's stream. Every
//   replica mirrors the agents held elsewhere in its AgentRegistry, as remote connections,
//   so that the owner of a run sees every agent it needs.
// - Mail (rstmesh_mail): what an owner sends an agent held by another replica (keys,
//   schedules, cancels) is queued for that replica, which passes it on.
// - Arrivals (rstmesh_arrivals): whichever replica stores an observation records its
//   arrival in the same transaction (PostgresStore); the owner takes the arrivals of its
//   runs and joins them.
// - Progress (rstmesh_progress): how far each agent got in each run, kept (the greatest
//   reported), so that an owner, new or not, knows what was started.
//
// Three connections: one LISTENs, one does the link's own work on its thread, one answers
// the run manager's blocking calls (a new run's number and lease, a cancel).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_registry.h"
#include "controller/postgres_connection.h"
#include "controller/run_manager.h"
#include "controller/run_ownership.h"

namespace rstmesh {

class RemoteAgent;

class ReplicaLink : public RunOwnership {
 public:
  struct Options {
    std::string dsn;
    // This replica's name (the pod's or the host's); its id is the name and a random
    // suffix, new for every process.
    std::string name;
    std::string address;  // where it serves (shown to operators)
    // A run whose owner has not renewed its lease for this long is taken over.
    std::chrono::milliseconds lease{10000};
    // How often leases are renewed, the replica's heartbeat written and the agent directory
    // read (at most lease / 3).
    std::chrono::milliseconds period{1000};
  };

  // Connects (three sessions). kUnavailable when the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<ReplicaLink>> Open(Options options,
                                                           AgentRegistry* registry);
  ~ReplicaLink() override;

  // Starts the threads: from now on runs are taken over and agents mirrored.
  void Start(RunManager* runs);
  // Hands this replica's leases over (the run manager has stopped: its writes are in) and
  // ends the threads.
  void Stop();

  const std::string& id() const { return id_; }
  // Whether this replica starts the due continuous audits (it holds the audit lock in the
  // database; one replica at a time, another takes it when it dies).
  bool LeadsAudits() const { return leads_audits_.load(); }

  // The registry's listeners for streams to this replica.
  void OnRegistered(const std::string& agent_id);
  void OnDisconnected(const std::string& agent_id);

  // RunOwnership
  absl::StatusOr<uint64_t> NextRunNumber() override;
  absl::Status Claim(const std::string& run_id) override;
  void Publish(const std::string& agent_id, const v1::ScheduleProgress& progress) override;
  absl::Status RequestCancel(const std::string& run_id) override;
  std::optional<RunProgress> Published(const std::string& run_id) override;
  std::string OwnerOf(const std::string& run_id) override;

  // What RemoteAgent queues for the replica that holds an agent's stream.
  void Post(const std::string& replica, const std::string& agent_id,
            const v1::ControllerMessage& message);
  size_t Posted(const std::string& agent_id);

 private:
  ReplicaLink(Options options, AgentRegistry* registry, std::string id);
  void Listen();
  void Work();
  // One pass of the periodic work: heartbeat, leases, take-overs, the directory.
  absl::Status Periodic();
  absl::Status RenewLeases();
  absl::Status TakeOver();
  absl::Status ReadLeases();
  absl::Status SyncDirectory();
  absl::Status RefreshRuns();
  absl::Status FlushOutgoing();
  absl::Status DeliverMail();
  absl::Status TakeArrivals();
  absl::Status TakeProgress();
  absl::Status Cleanup();
  // Connects the work session again after a blip (true if it was).
  absl::Status WorkReady();

  const Options options_;
  AgentRegistry* const registry_;
  const std::string id_;
  RunManager* runs_ = nullptr;
  std::thread listener_, worker_;

  std::unique_ptr<postgres::Connection> listen_conn_;  // the listener thread's
  std::unique_ptr<postgres::Connection> work_conn_;    // the worker thread's
  absl::Mutex request_mu_;
  std::unique_ptr<postgres::Connection> request_conn_ ABSL_GUARDED_BY(request_mu_);

  struct Letter {
    std::string replica, agent_id, bytes;
  };
  struct DirectoryChange {
    std::string agent_id;
    bool connected = false;
    std::string info;  // a serialized AgentInfo (connected)
    int64_t registered_unix_ms = 0;
  };
  struct PublishedRun {
    std::string owner;
    bool held = false;  // the lease is current
    RunProgress progress;
  };

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // What woke the worker (set by the listener and by the queues).
  bool wake_mail_ ABSL_GUARDED_BY(mu_) = true;
  bool wake_arrivals_ ABSL_GUARDED_BY(mu_) = true;
  bool wake_progress_ ABSL_GUARDED_BY(mu_) = true;
  bool wake_runs_ ABSL_GUARDED_BY(mu_) = true;
  bool wake_periodic_ ABSL_GUARDED_BY(mu_) = true;
  bool wake_outgoing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Letter> outbox_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, size_t> posted_ ABSL_GUARDED_BY(mu_);  // by agent, in outbox_
  std::vector<DirectoryChange> directory_out_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> progress_out_
      ABSL_GUARDED_BY(mu_);  // (run, agent) -> started
  std::map<std::string, PublishedRun> published_ ABSL_GUARDED_BY(mu_);

  // The worker's own state.
  std::map<std::string, std::shared_ptr<RemoteAgent>> mirrored_;  // agent -> its mirror
  std::chrono::steady_clock::time_point last_cleanup_{};
  std::atomic<bool> leads_audits_{false};
};

}  // namespace rstmesh
