#include "controller/agent_registry.h"

namespace rstmesh {

void AgentRegistry::set_on_lost(LostListener listener) {
  absl::MutexLock lock(&mu_);
  on_lost_ = std::move(listener);
}

void AgentRegistry::set_on_registered(LostListener listener) {
  absl::MutexLock lock(&mu_);
  on_registered_ = std::move(listener);
}

void AgentRegistry::Register(const v1::AgentInfo& info,
                             std::shared_ptr<AgentConnection> connection) {
  std::shared_ptr<AgentConnection> replaced;
  LostListener restarted, registered;
  {
    absl::MutexLock lock(&mu_);
    registered = on_registered_;
    auto it = agents_.find(info.id());
    if (it != agents_.end()) {
      replaced = std::move(it->second.connection);
      // Another process under the same id: the old one is gone with what it was doing.
      if (it->second.info.incarnation() != info.incarnation()) restarted = on_lost_;
    }
    agents_[info.id()] = {info, std::move(connection), Clock::now()};
    ++generation_;
  }
  if (replaced != nullptr) replaced->Close();
  if (restarted) restarted(info.id());
  if (registered) registered(info.id());
}

void AgentRegistry::Unregister(const std::string& agent_id, const AgentConnection* connection) {
  LostListener listener;
  {
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(agent_id);
    if (it == agents_.end() || it->second.connection.get() != connection) return;
    agents_.erase(it);
    ++generation_;
    listener = on_lost_;
  }
  if (listener) listener(agent_id);
}

void AgentRegistry::Heartbeat(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  if (auto it = agents_.find(agent_id); it != agents_.end()) it->second.last_heard = Clock::now();
}

std::vector<std::string> AgentRegistry::ExpireSilent(Clock::duration timeout) {
  std::vector<std::pair<std::string, std::shared_ptr<AgentConnection>>> expired;
  LostListener listener;
  {
    absl::MutexLock lock(&mu_);
    const auto now = Clock::now();
    for (auto it = agents_.begin(); it != agents_.end();) {
      if (now - it->second.last_heard > timeout) {
        expired.emplace_back(it->first, std::move(it->second.connection));
        it = agents_.erase(it);
        ++generation_;
      } else {
        ++it;
      }
    }
    listener = on_lost_;
  }
  std::vector<std::string> ids;
  for (auto& [id, connection] : expired) {
    if (connection != nullptr) connection->Close();
    if (listener) listener(id);
    ids.push_back(id);
  }
  return ids;
}

std::vector<v1::AgentInfo> AgentRegistry::Agents() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::AgentInfo> out;
  for (const auto& [id, entry] : agents_) out.push_back(entry.info);
  return out;
}

uint64_t AgentRegistry::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

bool AgentRegistry::IsConnected(const std::string& agent_id) const {
  absl::MutexLock lock(&mu_);
  return agents_.count(agent_id) > 0;
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

}  // namespace rstmesh
