#include "actors/last_seen_table.hpp"

#include <functional>

namespace muster {

LastSeenTable::Shard& LastSeenTable::shard_for(const std::string& agent_id) {
  return shards_[std::hash<std::string>{}(agent_id) % kShardCount];
}

const LastSeenTable::Shard& LastSeenTable::shard_for(const std::string& agent_id) const {
  return shards_[std::hash<std::string>{}(agent_id) % kShardCount];
}

void LastSeenTable::mark_dirty(Shard& shard, const std::string& agent_id, Slot& slot) {
  if (!slot.dirty) {
    slot.dirty = true;
    shard.dirty_ids.push_back(agent_id);
  }
}

void LastSeenTable::touch(const std::string& agent_id, TimeMs time_ms,
                          const std::map<std::string, double>* metrics) {
  Shard& shard = shard_for(agent_id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  Slot& slot = shard.slots[agent_id];
  slot.entry.last_seen_ms = time_ms;
  if (metrics != nullptr) slot.entry.metrics = *metrics;
  mark_dirty(shard, agent_id, slot);
}

std::optional<LastSeenTable::Entry> LastSeenTable::find(const std::string& agent_id) const {
  const Shard& shard = shard_for(agent_id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.slots.find(agent_id);
  if (found == shard.slots.end()) return std::nullopt;
  return found->second.entry;
}

void LastSeenTable::load(const std::vector<LastSeen>& saved) {
  for (const LastSeen& item : saved) {
    Shard& shard = shard_for(item.key);
    std::lock_guard<std::mutex> lock(shard.mutex);
    shard.slots[item.key].entry.last_seen_ms = item.time_ms;
  }
}

std::vector<LastSeen> LastSeenTable::take_dirty() {
  std::vector<LastSeen> changed;
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    for (const std::string& agent_id : shard.dirty_ids) {
      Slot& slot = shard.slots[agent_id];
      slot.dirty = false;
      changed.push_back({agent_id, slot.entry.last_seen_ms});
    }
    shard.dirty_ids.clear();
  }
  return changed;
}

void LastSeenTable::restore_dirty(const std::vector<LastSeen>& unsaved) {
  for (const LastSeen& item : unsaved) {
    Shard& shard = shard_for(item.key);
    std::lock_guard<std::mutex> lock(shard.mutex);
    mark_dirty(shard, item.key, shard.slots[item.key]);
  }
}

}  // namespace muster
