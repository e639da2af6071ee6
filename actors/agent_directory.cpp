#include "actors/agent_directory.hpp"

#include <mutex>

namespace muster {

std::optional<caf::actor> AgentDirectory::find(const std::string& agent_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = actors_by_agent_.find(agent_id);
  if (found == actors_by_agent_.end()) return std::nullopt;
  return found->second;
}

std::pair<std::string, caf::actor> AgentDirectory::find_or_create(
    const std::string& instance_key, const std::function<std::pair<std::string, caf::actor>()>& create) {
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    const auto found = agents_by_instance_key_.find(instance_key);
    if (found != agents_by_instance_key_.end()) {
      return {found->second, actors_by_agent_.at(found->second)};
    }
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  const auto found = agents_by_instance_key_.find(instance_key);
  if (found != agents_by_instance_key_.end()) {
    return {found->second, actors_by_agent_.at(found->second)};
  }
  auto created = create();
  agents_by_instance_key_.emplace(instance_key, created.first);
  actors_by_agent_.emplace(created.first, created.second);
  return created;
}

void AgentDirectory::insert(const std::string& agent_id, const std::string& instance_key, caf::actor actor) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  agents_by_instance_key_[instance_key] = agent_id;
  actors_by_agent_[agent_id] = std::move(actor);
}

void AgentDirectory::replace(const std::string& agent_id, caf::actor actor) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  actors_by_agent_[agent_id] = std::move(actor);
}

std::vector<caf::actor> AgentDirectory::actors() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<caf::actor> all;
  all.reserve(actors_by_agent_.size());
  for (const auto& entry : actors_by_agent_) all.push_back(entry.second);
  return all;
}

}  // namespace muster
