#include "projections/fleet_projection.hpp"

#include <mutex>

#include "actors/access.hpp"

namespace muster {
namespace {

bool matches(const AgentState& state, const AgentFilter& filter) {
  if (!is_listed(state.status)) return false;
  if (filter.org && state.org != *filter.org) return false;
  if (filter.status && state.status != *filter.status) return false;
  if (filter.version && state.profile.version != *filter.version) return false;
  if (filter.type && state.profile.type != *filter.type) return false;
  for (const auto& [key, value] : filter.labels) {
    const auto found = state.profile.labels.find(key);
    if (found == state.profile.labels.end() || found->second != value) return false;
  }
  if (filter.text && state.profile.name.find(*filter.text) == std::string::npos &&
      state.profile.hostname.find(*filter.text) == std::string::npos) {
    return false;
  }
  return true;
}

// The slot of `status` in the by-status index: listed states only.
std::size_t status_slot(AgentStatus status) {
  switch (status) {
    case AgentStatus::online: return 0;
    case AgentStatus::degraded: return 1;
    default: return 2;
  }
}

// Whether `filter` asks only what the index and the counters answer.
bool indexed(const AgentFilter& filter) {
  return !filter.version && !filter.type && filter.labels.empty() && !filter.text;
}

// The counter of `status` in `stats` (const or not); null for a status
// that is not listed.
template <class Stats>
auto status_counter(Stats& stats, AgentStatus status) -> decltype(&stats.online) {
  switch (status) {
    case AgentStatus::online: return &stats.online;
    case AgentStatus::degraded: return &stats.degraded;
    case AgentStatus::offline: return &stats.offline;
    default: return nullptr;
  }
}

std::size_t count_of(const FleetStats& stats, std::optional<AgentStatus> status) {
  if (!status) return stats.total;
  const auto* counter = status_counter(stats, *status);
  return counter ? *counter : 0;
}

void adjust(std::map<std::string, std::size_t>& counts, const std::string& key, int delta) {
  auto& count = counts[key];
  count += delta;
  if (count == 0) counts.erase(key);
}

}  // namespace

void FleetProjection::count_into(FleetStats& stats, const AgentState& state, int delta) {
  stats.total += delta;
  if (auto* counter = status_counter(stats, state.status)) *counter += delta;
  adjust(stats.by_version, state.profile.version, delta);
  adjust(stats.by_type, state.profile.type, delta);
}

void FleetProjection::count(const AgentState& state, int delta) {
  if (!is_listed(state.status)) return;
  count_into(stats_, state, delta);
  count_into(stats_by_org_[state.org], state, delta);
}

Status FleetProjection::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    stats_.position = event.position;
    if (!is_agent_stream(event.stream)) continue;
    const auto slot = agents_.try_emplace(event.stream).first;
    AgentState& state = slot->second;
    if (state.agent_id.empty()) state.agent_id = event.stream;
    const AgentStatus before = state.status;
    count(state, -1);
    Status folded = muster::apply(state, event);
    // Lists and counts never show the token's digests: the actors hold them.
    state.credentials = {};
    count(state, +1);
    if (state.status != before) {
      index(*slot, before, false);
      index(*slot, state.status, true);
    }
    if (!folded && first_failure.ok()) first_failure = folded;
  }
  return first_failure;
}

void FleetProjection::index(const Entry& agent, AgentStatus status, bool add) {
  if (!is_listed(status)) return;
  auto& agents = listed_by_status_[status_slot(status)];
  if (add) {
    agents.insert(&agent);
  } else {
    agents.erase(&agent);
  }
}

AgentPage FleetProjection::list_indexed(const AgentFilter& filter, std::size_t limit,
                                        const std::string& after_agent_id) const {
  AgentPage page;
  const FleetStats* counted = &stats_;
  if (filter.org) {
    const auto found = stats_by_org_.find(*filter.org);
    if (found == stats_by_org_.end()) return page;
    counted = &found->second;
  }
  page.total = count_of(*counted, filter.status);
  // Takes agents from [begin, end), entries of agents_ in id order, until the page is full.
  const auto take = [&](auto begin, auto end, auto entry_of) {
    for (auto it = begin; it != end; ++it) {
      const AgentState& state = entry_of(it).second;
      if (!matches(state, filter)) continue;
      if (page.agents.size() == limit) {
        page.next_after = page.agents.back().agent_id;
        return;
      }
      page.agents.push_back(state);
    }
  };
  if (filter.status) {
    const auto& listed = listed_by_status_[status_slot(*filter.status)];
    take(listed.upper_bound(after_agent_id), listed.end(), [](auto it) -> const Entry& { return **it; });
  } else {
    take(agents_.upper_bound(after_agent_id), agents_.end(), [](auto it) -> const Entry& { return *it; });
  }
  return page;
}

AgentPage FleetProjection::list(const AgentFilter& filter, std::size_t limit,
                                const std::string& after_agent_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  if (indexed(filter)) return list_indexed(filter, limit, after_agent_id);
  AgentPage page;
  for (const auto& [agent_id, state] : agents_) {
    if (!matches(state, filter)) continue;
    ++page.total;
    if (agent_id <= after_agent_id) continue;
    if (page.agents.size() < limit) {
      page.agents.push_back(state);
    } else if (!page.next_after) {
      page.next_after = page.agents.back().agent_id;
    }
  }
  return page;
}

const AgentState* FleetProjection::registered(const std::string& agent_id) const {
  const auto found = agents_.find(agent_id);
  if (found == agents_.end() || found->second.status == AgentStatus::unregistered) return nullptr;
  return &found->second;
}

std::optional<AgentState> FleetProjection::find(const std::string& agent_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto* agent = registered(agent_id);
  return agent ? std::optional<AgentState>(*agent) : std::nullopt;
}

std::optional<std::string> FleetProjection::org_of(const std::string& agent_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto* agent = registered(agent_id);
  return agent ? std::optional<std::string>(agent->org) : std::nullopt;
}

FleetStats FleetProjection::stats(std::string_view org_scope) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  if (org_scope == kAllOrgs) return stats_;
  const auto found = stats_by_org_.find(org_scope);
  FleetStats scoped = found == stats_by_org_.end() ? FleetStats{} : found->second;
  scoped.position = stats_.position;
  return scoped;
}

std::uint64_t FleetProjection::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return stats_.position;
}

std::vector<AgentState> FleetProjection::snapshot() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<AgentState> all;
  all.reserve(agents_.size());
  for (const auto& entry : agents_) all.push_back(entry.second);
  return all;
}

}  // namespace muster
