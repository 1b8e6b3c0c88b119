// AgentRegistry: the fleet as the controller sees it, one entry per live AgentHub stream.
// A second stream with the same agent id replaces the first (the old one is closed). An
// agent whose heartbeats stop is dropped by ExpireSilent().
//
// Thread-safe. Listeners are called without the registry's lock held.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
};

class AgentRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  using LostListener = std::function<void(const std::string& agent_id)>;

  // Called once per agent that goes away (stream ended, or silent too long, or a new
  // process of the same id took over); not when the same process reconnects.
  void set_on_lost(LostListener listener);
  // Called after every registration (a new agent, or one that reconnected).
  void set_on_registered(LostListener listener);

  void Register(const v1::AgentInfo& info, std::shared_ptr<AgentConnection> connection);
  // Ends `connection`'s registration if it is still the current one for `agent_id`.
  void Unregister(const std::string& agent_id, const AgentConnection* connection);
  void Heartbeat(const std::string& agent_id);
  // Drops agents not heard from within `timeout`; returns their ids.
  std::vector<std::string> ExpireSilent(Clock::duration timeout);

  std::vector<v1::AgentInfo> Agents() const;  // sorted by id
  // Changes whenever the set of agents or their registrations change (not on heartbeats):
  // a copy of Agents() stays current while this stays the same.
  uint64_t generation() const;
  bool IsConnected(const std::string& agent_id) const;
  bool Send(const std::string& agent_id, v1::ControllerMessage message);

 private:
  struct Entry {
    v1::AgentInfo info;
    std::shared_ptr<AgentConnection> connection;
    Clock::time_point last_heard;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> agents_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  LostListener on_lost_ ABSL_GUARDED_BY(mu_);
  LostListener on_registered_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rstmesh
