// AgentRegistry: the fleet as the controller sees it, and each agent's liveness.
//
// An agent is a *member* from its first Hello until its lease expires. While its AgentHub
// stream is up it is *connected*; a stream that ends, or goes silent longer than the
// silence limit (ExpireSilent), leaves it *disconnected* but still a member: a network blip
// or a controller-side reset is not a loss. Only an agent that stays unreachable longer
// than the lease is *lost* (on_lost). A second stream with the same id replaces the first;
// if it comes from another process (another incarnation) the old process is gone with
// whatever it was doing (on_restarted), but the agent itself is back.
//
// With a zero lease (unit tests' wiring) a stream that ends loses the agent at once.
//
// Thread-safe. Listeners are called without the registry's lock held.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/monotonic_clock.h"
#include "rstmesh/v1/agent_hub.pb.h"

namespace rstmesh {

// One live stream to an agent.
class AgentConnection {
 public:
  virtual ~AgentConnection() = default;
  // Queues a message; false when the stream is already gone.
  virtual bool Send(v1::ControllerMessage message) = 0;
  // Ends the stream (it was replaced or went silent).
  virtual void Close() = 0;
  // Messages queued and not yet written to the stream.
  virtual size_t Queued() { return 0; }
  // "" for a stream to this controller; with replicas (controller/replica_link.h), the
  // replica that holds the agent's stream.
  virtual std::string replica() const { return ""; }
};

// How often agents are asked to heartbeat: the fleet shares a budget of heartbeats per
// second, so a large fleet costs the controller no more than a small one; never more often
// than `min_interval`, never less often than `max_interval`.
struct AgentHeartbeatPolicy {
  std::chrono::milliseconds min_interval{0};  // the hub's own interval is the floor too
  std::chrono::milliseconds max_interval{10000};
  double per_second = 1000;
};

class AgentRegistry {
 public:
  using TimePoint = MonotonicClock::time_point;
  using Duration = MonotonicClock::duration;
  using Listener = std::function<void(const std::string& agent_id)>;
  using LostListener = Listener;

  using HeartbeatPolicy = AgentHeartbeatPolicy;

  // `clock` outlives the registry; null: the steady clock.
  explicit AgentRegistry(Duration lease = {}, const MonotonicClock* clock = nullptr,
                         HeartbeatPolicy heartbeats = {});

  // The interval to ask of an agent joining now (for its welcome).
  std::chrono::milliseconds HeartbeatIntervalForNewAgent() const;

  // Called once per agent whose lease expired (or, with a zero lease, whose stream ended).
  void set_on_lost(Listener listener);
  // Called when a new process registers under an id whose old process was still a member.
  void set_on_restarted(Listener listener);
  // Called after every registration (a new agent, or one that reconnected).
  void set_on_registered(Listener listener);
  // Called when a stream to this controller ends or is closed for silence (not for streams
  // held by other replicas).
  void set_on_disconnected(Listener listener);

  // `heartbeat_interval`: what its welcome asked (0: the policy's minimum). When the fleet
  // has grown so that the interval it needs is a quarter longer than what connected agents
  // were told, they are all told the new one (a welcome on their stream).
  void Register(const v1::AgentInfo& info, std::shared_ptr<AgentConnection> connection,
                std::chrono::milliseconds heartbeat_interval = {});
  // Ends `connection`'s registration if it is still the current one for `agent_id`: the
  // agent is disconnected (or lost, with a zero lease).
  void Unregister(const std::string& agent_id, const AgentConnection* connection);
  void Heartbeat(const std::string& agent_id);
  // Closes the streams of agents not heard from within `silence`, or three of their
  // heartbeat intervals if that is longer (they are disconnected),
  // then ends the membership of agents disconnected longer than the lease. Returns the ids
  // of the agents lost.
  std::vector<std::string> ExpireSilent(Duration silence);

  // Every member, sorted by id; `connected` says whose stream is up.
  std::vector<v1::AgentInfo> Agents() const;
  // Members by state now, and what happened to them since this registry was made (for
  // /metrics: the fleet as a whole, never per agent).
  struct Counts {
    uint64_t connected = 0;
    uint64_t disconnected = 0;        // members within their lease, not connected
    uint64_t joined_total = 0;        // registrations of an id not a member
    uint64_t reconnected_total = 0;   // registrations of a member (the same or a new process)
    uint64_t restarted_total = 0;     // ... of which by a new process
    uint64_t disconnected_total = 0;  // streams that ended or went silent
    uint64_t lost_total = 0;          // members removed: unreachable past their lease
  };
  Counts counts() const;
  // Changes whenever the set of agents, their registrations or their connected state change
  // (not on heartbeats): a copy of Agents() stays current while this stays the same.
  uint64_t generation() const;
  bool IsConnected(const std::string& agent_id) const;
  struct Liveness {
    TimePoint last_heard;  // any message
    std::string incarnation;
    std::string host_incarnation;
    bool connected = false;
  };
  // Where a member stands; nullopt for an agent that is not (or no longer) one.
  std::optional<Liveness> LivenessOf(const std::string& agent_id) const;
  // A member's registration (nullopt for one that is not a member).
  std::optional<v1::AgentInfo> Find(const std::string& agent_id) const;
  bool Send(const std::string& agent_id, v1::ControllerMessage message);
  // The same, only if the agent's stream is to this controller (a replica passing on what
  // another sent it).
  bool SendHere(const std::string& agent_id, v1::ControllerMessage message);
  // Where a connected member's stream is ("" here, or another replica's id); nullopt for
  // one that is not connected.
  std::optional<std::string> ReplicaOf(const std::string& agent_id) const;
  // Messages queued for a member's stream and not yet written (0 for none, or no stream).
  size_t Queued(const std::string& agent_id) const;
  Duration lease() const { return lease_; }

 private:
  struct Entry {
    v1::AgentInfo info;
    std::shared_ptr<AgentConnection> connection;  // null while disconnected
    TimePoint last_heard;
    std::chrono::milliseconds heartbeat_interval{0};
  };
  std::chrono::milliseconds IntervalFor(size_t members) const;
  // Disconnects (or, with a zero lease, removes) `it`; returns whether it was removed.
  bool Disconnect(std::map<std::string, Entry>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Duration lease_;
  const MonotonicClock* const clock_;
  const HeartbeatPolicy heartbeats_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> agents_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  Counts counts_ ABSL_GUARDED_BY(mu_);                               // the _total ones
  std::chrono::milliseconds told_interval_ ABSL_GUARDED_BY(mu_){0};  // last broadcast
  Listener on_lost_ ABSL_GUARDED_BY(mu_);
  Listener on_restarted_ ABSL_GUARDED_BY(mu_);
  Listener on_registered_ ABSL_GUARDED_BY(mu_);
  Listener on_disconnected_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rstmesh
