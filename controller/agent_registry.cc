#include "controller/agent_registry.h"

#include <algorithm>

namespace rstmesh {

AgentRegistry::AgentRegistry(Duration lease, const MonotonicClock* clock,
                             HeartbeatPolicy heartbeats)
    : lease_(lease),
      clock_(clock != nullptr ? clock : MonotonicClock::Real()),
      heartbeats_(heartbeats) {}

std::chrono::milliseconds AgentRegistry::IntervalFor(size_t members) const {
  const auto spread = std::chrono::milliseconds(
      static_cast<int64_t>(1000.0 * static_cast<double>(members) / heartbeats_.per_second));
  return std::clamp(spread, heartbeats_.min_interval,
                    std::max(heartbeats_.min_interval, heartbeats_.max_interval));
}

std::chrono::milliseconds AgentRegistry::HeartbeatIntervalForNewAgent() const {
  absl::MutexLock lock(&mu_);
  return IntervalFor(agents_.size() + 1);
}

void AgentRegistry::set_on_lost(Listener listener) {
  absl::MutexLock lock(&mu_);
  on_lost_ = std::move(listener);
}

void AgentRegistry::set_on_restarted(Listener listener) {
  absl::MutexLock lock(&mu_);
  on_restarted_ = std::move(listener);
}

void AgentRegistry::set_on_registered(Listener listener) {
  absl::MutexLock lock(&mu_);
  on_registered_ = std::move(listener);
}

void AgentRegistry::set_on_disconnected(Listener listener) {
  absl::MutexLock lock(&mu_);
  on_disconnected_ = std::move(listener);
}

void AgentRegistry::Register(const v1::AgentInfo& info, std::shared_ptr<AgentConnection> connection,
                             std::chrono::milliseconds heartbeat_interval) {
  std::shared_ptr<AgentConnection> replaced;
  Listener restarted, registered;
  std::vector<std::shared_ptr<AgentConnection>> retell;
  std::chrono::milliseconds retold{0};
  {
    absl::MutexLock lock(&mu_);
    registered = on_registered_;
    auto it = agents_.find(info.id());
    if (it != agents_.end()) {
      replaced = std::move(it->second.connection);
      ++counts_.reconnected_total;
      // Another process under the same id: the old one is gone with what it was doing.
      if (it->second.info.incarnation() != info.incarnation()) {
        restarted = on_restarted_;
        ++counts_.restarted_total;
      }
    } else {
      ++counts_.joined_total;
    }
    Entry& entry = agents_[info.id()];
    entry.info = info;
    entry.info.set_connected(true);
    entry.connection = std::move(connection);
    entry.last_heard = clock_->Now();
    entry.heartbeat_interval = std::max(heartbeat_interval, heartbeats_.min_interval);
    ++generation_;
    // The fleet grew: everyone beats less often, so that the total stays in the budget.
    const auto needed = IntervalFor(agents_.size());
    if (told_interval_.count() == 0) told_interval_ = entry.heartbeat_interval;
    if (told_interval_.count() > 0 && needed * 4 >= told_interval_ * 5) {
      // A quarter longer than what they were told: tell everyone.
      told_interval_ = retold = needed;
      for (auto& [id, other] : agents_) {
        other.heartbeat_interval = std::max(other.heartbeat_interval, needed);
        if (other.connection != nullptr) retell.push_back(other.connection);
      }
    }
  }
  if (replaced != nullptr) replaced->Close();
  for (const auto& other : retell) {
    v1::ControllerMessage welcome;
    welcome.mutable_welcome()->set_heartbeat_interval_ms(static_cast<uint32_t>(retold.count()));
    other->Send(std::move(welcome));
  }
  if (restarted) restarted(info.id());
  if (registered) registered(info.id());
}

bool AgentRegistry::Disconnect(std::map<std::string, Entry>::iterator it) {
  ++generation_;
  ++counts_.disconnected_total;
  if (lease_ == Duration::zero()) {
    agents_.erase(it);
    ++counts_.lost_total;
    return true;
  }
  it->second.connection = nullptr;
  it->second.info.set_connected(false);
  return false;
}

void AgentRegistry::Unregister(const std::string& agent_id, const AgentConnection* connection) {
  Listener listener, disconnected;
  {
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(agent_id);
    if (it == agents_.end() || it->second.connection == nullptr ||
        it->second.connection.get() != connection) {
      return;
    }
    if (connection->replica().empty()) disconnected = on_disconnected_;
    if (Disconnect(it)) listener = on_lost_;
  }
  if (disconnected) disconnected(agent_id);
  if (listener) listener(agent_id);
}

void AgentRegistry::Heartbeat(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  if (auto it = agents_.find(agent_id); it != agents_.end()) it->second.last_heard = clock_->Now();
}

std::vector<std::string> AgentRegistry::ExpireSilent(Duration silence) {
  std::vector<std::shared_ptr<AgentConnection>> closed;
  std::vector<std::string> lost, disconnected;
  Listener listener, on_disconnected;
  {
    absl::MutexLock lock(&mu_);
    const auto now = clock_->Now();
    for (auto it = agents_.begin(); it != agents_.end();) {
      Entry& entry = it->second;
      const std::string id = it->first;
      auto next = std::next(it);
      const Duration limit = std::max<Duration>(silence, 3 * entry.heartbeat_interval);
      if (entry.connection != nullptr && now - entry.last_heard > limit) {
        closed.push_back(entry.connection);
        if (entry.connection->replica().empty()) disconnected.push_back(id);
        if (Disconnect(it)) lost.push_back(id);
      } else if (entry.connection == nullptr && now - entry.last_heard > lease_) {
        // Unreachable longer than the lease, counted from the last word heard.
        agents_.erase(it);
        ++generation_;
        ++counts_.lost_total;
        lost.push_back(id);
      }
      it = next;
    }
    listener = on_lost_;
    on_disconnected = on_disconnected_;
  }
  for (auto& connection : closed) connection->Close();
  if (on_disconnected) {
    for (const std::string& id : disconnected) on_disconnected(id);
  }
  if (listener) {
    for (const std::string& id : lost) listener(id);
  }
  return lost;
}

std::vector<v1::AgentInfo> AgentRegistry::Agents() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::AgentInfo> out;
  out.reserve(agents_.size());
  for (const auto& [id, entry] : agents_) out.push_back(entry.info);
  return out;
}

uint64_t AgentRegistry::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

bool AgentRegistry::IsConnected(const std::string& agent_id) const {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(agent_id);
  return it != agents_.end() && it->second.connection != nullptr;
}

std::optional<AgentRegistry::Liveness> AgentRegistry::LivenessOf(
    const std::string& agent_id) const {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) return std::nullopt;
  return Liveness{it->second.last_heard, it->second.info.incarnation(),
                  it->second.info.host_incarnation(), it->second.connection != nullptr};
}

std::optional<v1::AgentInfo> AgentRegistry::Find(const std::string& agent_id) const {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) return std::nullopt;
  return it->second.info;
}

size_t AgentRegistry::Queued(const std::string& agent_id) const {
  std::shared_ptr<AgentConnection> connection;
  {
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(agent_id);
    if (it == agents_.end()) return 0;
    connection = it->second.connection;
  }
  return connection != nullptr ? connection->Queued() : 0;
}

bool AgentRegistry::Send(const std::string& agent_id, v1::ControllerMessage message) {
  std::shared_ptr<AgentConnection> connection;
  {
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(agent_id);
    if (it == agents_.end()) return false;
    connection = it->second.connection;
  }
  return connection != nullptr && connection->Send(std::move(message));
}

bool AgentRegistry::SendHere(const std::string& agent_id, v1::ControllerMessage message) {
  std::shared_ptr<AgentConnection> connection;
  {
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(agent_id);
    if (it == agents_.end()) return false;
    connection = it->second.connection;
  }
  return connection != nullptr && connection->replica().empty() &&
         connection->Send(std::move(message));
}

std::optional<std::string> AgentRegistry::ReplicaOf(const std::string& agent_id) const {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(agent_id);
  if (it == agents_.end() || it->second.connection == nullptr) return std::nullopt;
  return it->second.connection->replica();
}

AgentRegistry::Counts AgentRegistry::counts() const {
  absl::MutexLock lock(&mu_);
  Counts counts = counts_;
  for (const auto& [id, entry] : agents_) {
    if (entry.connection != nullptr) {
      ++counts.connected;
    } else {
      ++counts.disconnected;
    }
  }
  return counts;
}

}  // namespace rstmesh
