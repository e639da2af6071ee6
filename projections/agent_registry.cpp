#include "projections/agent_registry.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "actors/agent/agent_state_codec.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

constexpr std::size_t kShardCount = 64;
// Snapshot records are written in batches this size, each a write of its own.
constexpr std::size_t kSnapshotBatch = 4096;

// The slot of a listed status in the by-status index.
std::size_t status_slot(AgentStatus status) {
  switch (status) {
    case AgentStatus::online: return 0;
    case AgentStatus::degraded: return 1;
    default: return 2;
  }
}

// Whether `filter` asks only what the index and the counters answer.
bool indexed_filter(const AgentFilter& filter) {
  return !filter.version && !filter.type && filter.labels.empty() && !filter.text && !filter.also;
}

bool matches(const AgentState& state, const AgentFilter& filter) {
  if (!is_listed(state.status)) return false;
  if (filter.org && *state.org != *filter.org) return false;
  if (filter.status && state.status != *filter.status) return false;
  if (filter.version && *state.profile.version != *filter.version) return false;
  if (filter.type && *state.profile.type != *filter.type) return false;
  for (const auto& [key, value] : filter.labels) {
    const auto found = state.profile.labels->find(key);
    if (found == state.profile.labels->end() || found->second != value) return false;
  }
  if (filter.text && state.profile.name.find(*filter.text) == std::string::npos &&
      state.profile.hostname.find(*filter.text) == std::string::npos &&
      state.instance_id.find(*filter.text) == std::string::npos) {
    return false;
  }
  return !filter.also || filter.also(state);
}

// The counter of `status` in `stats` (const or not); null for a status that is not listed.
template <class Stats>
auto status_counter(Stats& stats, AgentStatus status) -> decltype(&stats.online) {
  switch (status) {
    case AgentStatus::online: return &stats.online;
    case AgentStatus::degraded: return &stats.degraded;
    case AgentStatus::offline: return &stats.offline;
    default: return nullptr;
  }
}

void adjust(std::map<std::string, std::size_t>& counts, const std::string& key, int delta) {
  auto& count = counts[key];
  count += delta;
  if (count == 0) counts.erase(key);
}

std::string instance_key(std::string_view org, std::string_view instance_id) {
  std::string key;
  key.reserve(org.size() + 1 + instance_id.size());
  // '/' occurs in neither part.
  key.append(org).append(1, '/').append(instance_id);
  return key;
}

std::uint64_t instance_hash(InternedString org, std::string_view instance_id) {
  return std::hash<std::string_view>{}(instance_id)*31 + std::hash<const void*>{}(&*org);
}

}  // namespace

struct AgentRegistry::Record {
  AgentState state;
  /// When last heard from; 0: not since start-up (the latest event's time stands in).
  std::atomic<TimeMs> last_seen_ms{0};
  std::unique_ptr<std::map<std::string, double>> metrics;  ///< Guarded by the shard's lock.
  bool busy = false;                                       ///< Its actor is deciding. Shard lock.
  bool deadline_armed = false;                             ///< Shard lock.
  bool last_seen_dirty = false;                            ///< Shard lock.
  std::atomic<bool> snapshot_dirty{false};
};

struct AgentRegistry::Shard {
  mutable std::mutex mutex;
  std::unordered_map<AgentId, Record, AgentIdHash> records;
  std::vector<AgentId> dirty_last_seen;
};

bool AgentRegistry::ById::operator()(const Record* left, const Record* right) const {
  return left->state.agent_id < right->state.agent_id;
}

bool AgentRegistry::ById::operator()(const Record* left, const AgentId& right) const {
  return left->state.agent_id < right;
}

bool AgentRegistry::ById::operator()(const AgentId& left, const Record* right) const {
  return left < right->state.agent_id;
}

AgentRegistry::AgentRegistry() : shards_(std::make_unique<Shard[]>(kShardCount)) {}

AgentRegistry::~AgentRegistry() = default;

AgentRegistry::Shard& AgentRegistry::shard_for(const AgentId& id) const {
  return shards_[AgentIdHash{}(id) % kShardCount];
}

AgentRegistry::Indexed AgentRegistry::indexed(const Record& record) {
  const AgentState& state = record.state;
  return Indexed{state.status, state.org, state.profile.version, state.profile.type};
}

void AgentRegistry::count(const Indexed& attributes, int delta) {
  if (!is_listed(attributes.status)) return;
  for (FleetStats* stats : {&stats_, &stats_by_org_[*attributes.org]}) {
    stats->total += delta;
    if (auto* counter = status_counter(*stats, attributes.status)) *counter += delta;
    adjust(stats->by_version, *attributes.version, delta);
    adjust(stats->by_type, *attributes.type, delta);
  }
}

void AgentRegistry::reindex(Record& record, const Indexed& before, std::vector<std::string>& unclaim) {
  const Indexed after = indexed(record);
  if (before.status != after.status || before.org != after.org || before.version != after.version ||
      before.type != after.type) {
    count(before, -1);
    count(after, +1);
  }
  if (before.status != after.status) {
    if (is_listed(before.status)) listed_by_status_[status_slot(before.status)].erase(&record);
    if (is_listed(after.status)) listed_by_status_[status_slot(after.status)].insert(&record);
  }
  if (before.status == AgentStatus::unregistered && after.status != AgentStatus::unregistered) {
    const AgentState& state = record.state;
    const std::uint64_t hash = instance_hash(state.org, state.instance_id);
    const auto [begin, end] = by_instance_.equal_range(hash);
    if (std::none_of(begin, end, [&](const auto& entry) { return entry.second == &record; })) {
      by_instance_.emplace(hash, &record);
    }
    unclaim.push_back(instance_key(*state.org, state.instance_id));
  }
  mark_for_snapshot(record);
}

void AgentRegistry::index_loaded(Record& record) {
  const Indexed attributes = indexed(record);
  count(attributes, +1);
  if (is_listed(attributes.status)) listed_by_status_[status_slot(attributes.status)].insert(&record);
  by_instance_.emplace(instance_hash(record.state.org, record.state.instance_id), &record);
}

void AgentRegistry::mark_for_snapshot(Record& record) {
  if (record.snapshot_dirty.exchange(true)) return;
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  snapshot_dirty_.push_back(record.state.agent_id);
}

void AgentRegistry::unclaim(const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::lock_guard<std::mutex> lock(claims_mutex_);
  for (const std::string& key : keys) claims_.erase(key);
}

TimeMs AgentRegistry::last_seen_of(const Record& record) const {
  const TimeMs seen = record.last_seen_ms.load(std::memory_order_relaxed);
  return seen != 0 ? seen : record.state.updated_at_ms;
}

AgentView AgentRegistry::view_of(const Record& record) const {
  AgentView view;
  view.state = record.state;
  view.last_seen_ms = last_seen_of(record);
  return view;
}

// --- Folding ------------------------------------------------------------------------

Status AgentRegistry::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::vector<std::string> unclaimed;
  {
    std::unique_lock<std::shared_mutex> fold(fold_mutex_);
    for (const Event& event : batch) {
      position_ = event.position;
      const auto stream = parse_stream(event.stream);
      if (!stream || stream->kind != kAgentKind) continue;
      const auto id = AgentId::parse(stream->id);
      if (!id) {
        if (first_failure.ok()) {
          first_failure = make_error(ErrorCode::corruption,
                                     fmt::format("event at position {}: agent stream '{}' is not named by an "
                                                 "agent id",
                                                 event.position, event.stream));
        }
        continue;
      }
      Shard& shard = shard_for(*id);
      std::lock_guard<std::mutex> lock(shard.mutex);
      auto [slot, created] = shard.records.try_emplace(*id);
      Record& record = slot->second;
      // Its actor folded it already (or a snapshot held it).
      if (record.state.version >= event.version) continue;
      const Indexed before = indexed(record);
      Status folded = muster::apply(record.state, event);
      if (!folded) {
        if (created) shard.records.erase(slot);
        if (first_failure.ok()) first_failure = folded;
        continue;
      }
      reindex(record, before, unclaimed);
    }
    stats_.position = position_;
  }
  unclaim(unclaimed);
  return first_failure;
}

std::uint64_t AgentRegistry::position() const {
  std::shared_lock<std::shared_mutex> fold(fold_mutex_);
  return position_;
}

// --- The agents' actors ----------------------------------------------------------------

std::optional<AgentState> AgentRegistry::state_of(const AgentId& id) const {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found == shard.records.end()) return std::nullopt;
  return found->second.state;
}

bool AgentRegistry::contains(const AgentId& id) const {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  return shard.records.count(id) > 0;
}

std::optional<TimeMs> AgentRegistry::begin_decision(const AgentId& id) {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found == shard.records.end()) return std::nullopt;
  found->second.busy = true;
  return last_seen_of(found->second);
}

void AgentRegistry::end_decision(const AgentState& state, std::optional<TimeMs> heard_at,
                                 const std::optional<std::map<std::string, double>>& metrics) {
  Shard& shard = shard_for(state.agent_id);
  // Folded state changes under the fold lock too: check first whether there is any.
  bool newer = true;
  {
    std::lock_guard<std::mutex> lock(shard.mutex);
    const auto found = shard.records.find(state.agent_id);
    newer =
        state.version > 0 && (found == shard.records.end() || found->second.state.version < state.version);
  }
  std::unique_lock<std::shared_mutex> fold(fold_mutex_, std::defer_lock);
  if (newer) fold.lock();
  std::vector<std::string> unclaimed;
  {
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto found = shard.records.find(state.agent_id);
    if (newer) {
      if (found == shard.records.end()) found = shard.records.try_emplace(state.agent_id).first;
      Record& record = found->second;
      if (record.state.version < state.version) {
        const Indexed before = indexed(record);
        record.state = state;
        reindex(record, before, unclaimed);
      }
    }
    if (found != shard.records.end()) {
      Record& record = found->second;
      if (heard_at) {
        record.last_seen_ms.store(*heard_at, std::memory_order_relaxed);
        if (metrics) {
          record.metrics =
              metrics->empty() ? nullptr : std::make_unique<std::map<std::string, double>>(*metrics);
        }
        if (!record.last_seen_dirty) {
          record.last_seen_dirty = true;
          shard.dirty_last_seen.push_back(state.agent_id);
        }
      }
      record.busy = false;
    }
  }
  if (fold.owns_lock()) fold.unlock();
  unclaim(unclaimed);
}

void AgentRegistry::abandon_decision(const AgentId& id) {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found != shard.records.end()) found->second.busy = false;
}

// --- The heartbeat hot path --------------------------------------------------------------

AgentRegistry::Visit AgentRegistry::visit_record(const AgentId& id, DecideFn decide, void* callable,
                                                 TimeMs now_ms,
                                                 const std::map<std::string, double>& metrics) {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found == shard.records.end()) return Visit::absent;
  Record& record = found->second;
  if (record.busy) return Visit::busy;
  if (!decide(callable, record.state)) return Visit::visited;
  record.last_seen_ms.store(now_ms, std::memory_order_relaxed);
  if (!metrics.empty()) {
    if (record.metrics) {
      *record.metrics = metrics;
    } else {
      record.metrics = std::make_unique<std::map<std::string, double>>(metrics);
    }
  } else {
    record.metrics.reset();
  }
  if (!record.last_seen_dirty) {
    record.last_seen_dirty = true;
    shard.dirty_last_seen.push_back(id);
  }
  return Visit::visited;
}

// --- Instances ------------------------------------------------------------------------------

AgentRegistry::Instance AgentRegistry::agent_for_instance(const std::string& org,
                                                          const std::string& instance_id) {
  // The claims lock first, then the fold lock: `apply` and `end_decision`
  // release the fold lock before they unclaim, so a registered instance is
  // always in the index or still claimed.
  std::lock_guard<std::mutex> claims(claims_mutex_);
  if (const auto found = find_instance(org, instance_id)) return *found;
  auto [claim, created] = claims_.try_emplace(instance_key(org, instance_id));
  if (created) claim->second = AgentId::random();
  return {claim->second, AgentStatus::unregistered};
}

std::optional<AgentRegistry::Instance> AgentRegistry::find_instance(const std::string& org,
                                                                    const std::string& instance_id) const {
  const InternedString interned_org = InternedString::of(org);
  std::shared_lock<std::shared_mutex> fold(fold_mutex_);
  const auto [begin, end] = by_instance_.equal_range(instance_hash(interned_org, instance_id));
  for (auto entry = begin; entry != end; ++entry) {
    const AgentState& state = entry->second->state;
    if (state.org == interned_org && state.instance_id == instance_id)
      return Instance{state.agent_id, state.status};
  }
  return std::nullopt;
}

// --- Heartbeat deadlines ------------------------------------------------------------------

std::optional<TimeMs> AgentRegistry::arm_deadline(const AgentId& id, TimeMs timeout_ms,
                                                  TimeMs not_before_ms) {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found == shard.records.end()) return std::nullopt;
  Record& record = found->second;
  if (record.deadline_armed || !is_live(record.state.status)) return std::nullopt;
  record.deadline_armed = true;
  return std::max(last_seen_of(record), not_before_ms) + timeout_ms;
}

AgentRegistry::Due AgentRegistry::deadline_due(const AgentId& id, TimeMs now_ms, TimeMs timeout_ms,
                                               TimeMs not_before_ms) {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found == shard.records.end()) return {};
  Record& record = found->second;
  record.deadline_armed = false;
  if (!is_live(record.state.status) || record.busy) return {};
  const TimeMs deadline_ms = std::max(last_seen_of(record), not_before_ms) + timeout_ms;
  if (now_ms < deadline_ms) {
    record.deadline_armed = true;
    return {Due::What::wait, deadline_ms};
  }
  return {Due::What::fire, deadline_ms};
}

void AgentRegistry::arm_live_deadlines(TimeMs timeout_ms, TimeMs not_before_ms,
                                       const std::function<void(const AgentId&, TimeMs)>& schedule) {
  for (std::size_t index = 0; index < kShardCount; ++index) {
    std::lock_guard<std::mutex> lock(shards_[index].mutex);
    for (auto& [id, record] : shards_[index].records) {
      if (record.deadline_armed || !is_live(record.state.status)) continue;
      record.deadline_armed = true;
      schedule(id, std::max(last_seen_of(record), not_before_ms) + timeout_ms);
    }
  }
}

// --- Last seen -------------------------------------------------------------------------------

Status AgentRegistry::load_last_seen(const LastSeenStore& store) {
  return store.for_each([this](std::string_view key, TimeMs time_ms) {
    const auto id = AgentId::parse(key);
    if (!id) return;
    Shard& shard = shard_for(*id);
    std::lock_guard<std::mutex> lock(shard.mutex);
    const auto found = shard.records.find(*id);
    if (found == shard.records.end()) return;
    // Only ever later: a time saved before one this node heard is not news.
    std::atomic<TimeMs>& seen = found->second.last_seen_ms;
    if (seen.load(std::memory_order_relaxed) < time_ms) seen.store(time_ms, std::memory_order_relaxed);
  });
}

std::vector<LastSeen> AgentRegistry::take_dirty_last_seen() {
  std::vector<LastSeen> changed;
  for (std::size_t index = 0; index < kShardCount; ++index) {
    Shard& shard = shards_[index];
    std::lock_guard<std::mutex> lock(shard.mutex);
    for (const AgentId& id : shard.dirty_last_seen) {
      const auto found = shard.records.find(id);
      if (found == shard.records.end()) continue;
      found->second.last_seen_dirty = false;
      changed.push_back({id.to_string(), last_seen_of(found->second)});
    }
    shard.dirty_last_seen.clear();
  }
  return changed;
}

void AgentRegistry::restore_dirty_last_seen(const std::vector<LastSeen>& unsaved) {
  for (const LastSeen& entry : unsaved) {
    const auto id = AgentId::parse(entry.key);
    if (!id) continue;
    Shard& shard = shard_for(*id);
    std::lock_guard<std::mutex> lock(shard.mutex);
    const auto found = shard.records.find(*id);
    if (found == shard.records.end() || found->second.last_seen_dirty) continue;
    found->second.last_seen_dirty = true;
    shard.dirty_last_seen.push_back(*id);
  }
}

// --- Snapshots --------------------------------------------------------------------------------

Status AgentRegistry::save_snapshot(SnapshotStore& store) {
  const std::uint64_t position = this->position();
  std::vector<AgentId> dirty;
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    dirty.swap(snapshot_dirty_);
  }
  for (std::size_t start = 0; start < dirty.size() || start == 0; start += kSnapshotBatch) {
    const std::size_t end = std::min(dirty.size(), start + kSnapshotBatch);
    std::vector<SnapshotEntry> entries;
    entries.reserve(end - start);
    {
      // Shared: no fold changes a record while it is encoded.
      std::shared_lock<std::shared_mutex> fold(fold_mutex_);
      for (std::size_t index = start; index < end; ++index) {
        const AgentId& id = dirty[index];
        Shard& shard = shard_for(id);
        std::lock_guard<std::mutex> lock(shard.mutex);
        const auto found = shard.records.find(id);
        if (found == shard.records.end()) continue;
        found->second.snapshot_dirty = false;
        const auto& bytes = id.bytes();
        entries.push_back({std::string(bytes.begin(), bytes.end()), encode_agent_state(found->second.state)});
      }
    }
    const bool last = end == dirty.size();
    Status written =
        store.write(kSnapshotScope, entries, last ? std::optional<std::uint64_t>(position) : std::nullopt);
    if (!written) {
      std::vector<AgentId> unwritten(dirty.begin() + static_cast<std::ptrdiff_t>(start), dirty.end());
      std::shared_lock<std::shared_mutex> fold(fold_mutex_);
      for (const AgentId& id : unwritten) {
        Shard& shard = shard_for(id);
        std::lock_guard<std::mutex> lock(shard.mutex);
        const auto found = shard.records.find(id);
        if (found != shard.records.end()) mark_for_snapshot(found->second);
      }
      return written;
    }
    if (last) break;
  }
  return Status::success();
}

Result<std::uint64_t> AgentRegistry::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto position = store.position(kSnapshotScope);
  if (!position) return position.error();
  if (!*position) return std::uint64_t{0};
  const auto drop = [&](const std::string& why) -> Result<std::uint64_t> {
    log::warn("ignoring the fleet snapshot; folding the whole log instead", {{"reason", why}});
    clear();
    if (Status cleared = store.clear(kSnapshotScope); !cleared) return cleared.error();
    return std::uint64_t{0};
  };
  if (**position > head_position) {
    return drop(fmt::format("it reflects position {}, past the log's head {}", **position, head_position));
  }
  std::string damage;
  Status read;
  {
    std::unique_lock<std::shared_mutex> fold(fold_mutex_);
    read = store.for_each(kSnapshotScope, [&](std::string_view key, std::string_view value) {
      auto state = decode_agent_state(value);
      const auto& expected = state ? state->agent_id.bytes() : std::array<std::uint8_t, 16>{};
      if (!state ||
          key != std::string_view(reinterpret_cast<const char*>(expected.data()), expected.size()) ||
          state->version == 0) {
        damage = state ? "a record's key differs from its agent" : state.error().message;
        return false;
      }
      Shard& shard = shard_for(state->agent_id);
      std::lock_guard<std::mutex> lock(shard.mutex);
      auto [slot, created] = shard.records.try_emplace(state->agent_id);
      if (!created) {
        damage = "a record appears twice";
        return false;
      }
      slot->second.state = std::move(*state);
      index_loaded(slot->second);
      return true;
    });
    position_ = **position;
    stats_.position = position_;
  }
  if (!read) return read.error();
  if (!damage.empty()) return drop(damage);
  return **position;
}

void AgentRegistry::clear() {
  std::unique_lock<std::shared_mutex> fold(fold_mutex_);
  for (auto& listed : listed_by_status_) listed.clear();
  by_instance_.clear();
  stats_ = FleetStats{};
  stats_by_org_.clear();
  position_ = 0;
  for (std::size_t index = 0; index < kShardCount; ++index) {
    std::lock_guard<std::mutex> lock(shards_[index].mutex);
    shards_[index].records.clear();
    shards_[index].dirty_last_seen.clear();
  }
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  snapshot_dirty_.clear();
}

// --- Reads --------------------------------------------------------------------------------------

void AgentRegistry::for_each_listed(std::optional<AgentStatus> status, const std::optional<AgentId>& after,
                                    const std::function<bool(const Record&)>& visit) const {
  // Ids order the sets: position each after `after`, then merge them.
  using Iterator = std::set<const Record*, ById>::const_iterator;
  std::vector<std::pair<Iterator, Iterator>> ranges;
  for (AgentStatus listed : {AgentStatus::online, AgentStatus::degraded, AgentStatus::offline}) {
    if (status && *status != listed) continue;
    const auto& records = listed_by_status_[status_slot(listed)];
    ranges.emplace_back(after ? records.upper_bound(*after) : records.begin(), records.end());
  }
  for (;;) {
    std::pair<Iterator, Iterator>* next = nullptr;
    for (auto& range : ranges) {
      if (range.first == range.second) continue;
      if (next == nullptr || (*range.first)->state.agent_id < (*next->first)->state.agent_id) next = &range;
    }
    if (next == nullptr) return;
    const Record& record = **next->first;
    ++next->first;
    if (!visit(record)) return;
  }
}

AgentPage AgentRegistry::list(const AgentFilter& filter, std::size_t limit,
                              const std::optional<AgentId>& after) const {
  AgentPage page;
  std::shared_lock<std::shared_mutex> fold(fold_mutex_);
  const bool counted = indexed_filter(filter);
  if (counted) {
    const FleetStats* stats = &stats_;
    if (filter.org) {
      const auto found = stats_by_org_.find(*filter.org);
      if (found == stats_by_org_.end()) return page;
      stats = &found->second;
    }
    if (!filter.status) {
      page.total = stats->total;
    } else if (const auto* counter = status_counter(*stats, *filter.status)) {
      page.total = *counter;
    }
  }
  // Counted filters stop at a full page; others scan on to count the total.
  bool full = false;
  if (!counted) {
    for_each_listed(filter.status, std::nullopt, [&](const Record& record) {
      if (matches(record.state, filter)) ++page.total;
      return true;
    });
  }
  for_each_listed(filter.status, after, [&](const Record& record) {
    if (!matches(record.state, filter)) return true;
    if (page.agents.size() == limit) {
      full = true;
      return false;
    }
    page.agents.push_back(view_of(record));
    return true;
  });
  if (full && !page.agents.empty()) page.next_after = page.agents.back().state.agent_id;
  return page;
}

std::optional<AgentView> AgentRegistry::find(const AgentId& id) const {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found == shard.records.end() || found->second.state.status == AgentStatus::unregistered) {
    return std::nullopt;
  }
  AgentView view = view_of(found->second);
  if (found->second.metrics) view.metrics = *found->second.metrics;
  return view;
}

std::optional<std::string> AgentRegistry::org_of(const AgentId& id) const {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.records.find(id);
  if (found == shard.records.end() || found->second.state.status == AgentStatus::unregistered) {
    return std::nullopt;
  }
  return *found->second.state.org;
}

FleetStats AgentRegistry::stats(std::string_view org_scope) const {
  std::shared_lock<std::shared_mutex> fold(fold_mutex_);
  if (org_scope == kAllOrgs) return stats_;
  const auto found = stats_by_org_.find(org_scope);
  FleetStats scoped = found == stats_by_org_.end() ? FleetStats{} : found->second;
  scoped.position = stats_.position;
  return scoped;
}

HealthCounts AgentRegistry::health_counts(std::string_view org_scope, TimeMs now_ms,
                                          const HealthThresholds& thresholds) const {
  HealthCounts counts;
  std::shared_lock<std::shared_mutex> fold(fold_mutex_);
  for (AgentStatus live : {AgentStatus::online, AgentStatus::degraded}) {
    for (const Record* record : listed_by_status_[status_slot(live)]) {
      if (!org_visible(org_scope, *record->state.org)) continue;
      const std::string_view health =
          assess_health(record->state, last_seen_of(*record), now_ms, thresholds).health;
      if (health == "healthy") {
        ++counts.healthy;
      } else if (health == "warning") {
        ++counts.warning;
      } else {
        ++counts.unhealthy;
      }
    }
  }
  if (org_scope == kAllOrgs) {
    counts.offline = stats_.offline;
  } else if (const auto scoped = stats_by_org_.find(org_scope); scoped != stats_by_org_.end()) {
    counts.offline = scoped->second.offline;
  }
  return counts;
}

std::vector<AgentState> AgentRegistry::states() const {
  std::vector<AgentState> all;
  for (std::size_t index = 0; index < kShardCount; ++index) {
    std::lock_guard<std::mutex> lock(shards_[index].mutex);
    for (const auto& [id, record] : shards_[index].records) {
      if (record.state.status != AgentStatus::unregistered) all.push_back(record.state);
    }
  }
  std::sort(all.begin(), all.end(),
            [](const AgentState& left, const AgentState& right) { return left.agent_id < right.agent_id; });
  return all;
}

Status require_agents_of(const AgentRegistry& registry, const std::string& org, const std::vector<AgentId>& ids,
                         const std::string& field) {
  // Enough to find them in a list of thousands; the count says how many more.
  constexpr std::size_t kNamedUnknownIds = 20;
  std::set<std::string> unknown;
  for (const AgentId& id : ids) {
    const auto agent_org = registry.org_of(id);
    if (!agent_org || *agent_org != org) unknown.insert(id.to_string());
  }
  if (unknown.empty()) return Status::success();
  const std::size_t named = std::min(unknown.size(), kNamedUnknownIds);
  std::string message = fmt::format("{} of these are not agents of organization '{}': {}", unknown.size(), org,
                                    fmt::join(unknown.begin(), std::next(unknown.begin(), named), ", "));
  if (named < unknown.size()) message += fmt::format(" and {} more", unknown.size() - named);
  return invalid_field(field, std::move(message), "UNKNOWN_AGENTS");
}

}  // namespace muster
