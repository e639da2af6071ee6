#pragma once
/// Agent placement, in one place: which actor serves each agent, and which
/// agent each (organization, instance id) belongs to. Today every agent lives in this process;
/// when muster runs on several nodes, this is where an agent id maps to a node.
///
/// Thread-safe (readers share a lock; HTTP threads look up, actors are added
/// by registration, recovery and the supervisor).

#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>

namespace muster {

class AgentDirectory {
 public:
  /// The actor serving `agent_id`: nullopt for an unknown agent, an invalid
  /// handle for a known agent that has no actor right now (it failed to rebuild).
  std::optional<caf::actor> find(const std::string& agent_id) const;

  /// The agent for `instance_key` (organization and instance id), made by `create` (under the lock) if the
  /// instance is new, so that concurrent first registrations agree on one agent.
  std::pair<std::string, caf::actor> find_or_create(
      const std::string& instance_key, const std::function<std::pair<std::string, caf::actor>()>& create);

  /// Adds an agent (at recovery).
  void insert(const std::string& agent_id, const std::string& instance_key, caf::actor actor);

  /// Points `agent_id` at a new actor (after a respawn).
  void replace(const std::string& agent_id, caf::actor actor);

  /// Every actor, for shutdown.
  std::vector<caf::actor> actors() const;

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, caf::actor> actors_by_agent_;
  std::unordered_map<std::string, std::string> agents_by_instance_key_;
};

}  // namespace muster
