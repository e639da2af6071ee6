#include "projections/commands.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "actors/organization.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

constexpr std::string_view kCommandEntry = "cmd:";

bool is_open(CommandState state) {
  return state == CommandState::queued || state == CommandState::delivered;
}

bool matches(const CommandRecord& record, std::string_view org_scope, const CommandFilter& filter) {
  return org_visible(org_scope, record.org) && (!filter.agent_id || record.agent_id == *filter.agent_id) &&
         (!filter.type || record.type == *filter.type) && (!filter.state || record.state == *filter.state) &&
         (!filter.batch_id || record.batch_id == *filter.batch_id);
}

}  // namespace

void CommandQueue::set_on_queued(QueuedHook hook) {
  std::lock_guard<std::mutex> lock(hook_mutex_);
  on_queued_ = std::move(hook);
}

void CommandQueue::index_locked(const CommandRecord& record) {
  AgentEntry& agent = agents_[record.agent_id];
  agent.all.insert(record.created_position);
  if (is_open(record.state)) {
    agent.open.emplace(DeliveryKey{record.priority == CommandPriority::emergency ? 0 : 1, record.created_position},
                       record.command_id);
  }
  if (record.state == CommandState::queued) ++agent.queued;
  if (!record.batch_id.empty()) {
    BatchEntry& batch = batches_[record.batch_id];
    batch.all.insert(record.created_position);
    ++batch.counts[static_cast<std::size_t>(record.state)];
  }
}

// Undoes index_locked for the record's current state (its positions stay:
// a command never leaves its agent's or its batch's list).
void CommandQueue::unindex_locked(const CommandRecord& record) {
  AgentEntry& agent = agents_[record.agent_id];
  agent.open.erase(DeliveryKey{record.priority == CommandPriority::emergency ? 0 : 1, record.created_position});
  if (record.state == CommandState::queued && agent.queued > 0) --agent.queued;
  if (!record.batch_id.empty()) {
    std::size_t& count = batches_[record.batch_id].counts[static_cast<std::size_t>(record.state)];
    if (count > 0) --count;
  }
}

Status CommandQueue::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::vector<AgentId> woken;
  {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    for (const Event& event : batch) {
      if (event.position <= position_) continue;
      position_ = event.position;
      const auto instance = stream_id_of(event.stream, kCommandKind);
      if (!instance) continue;
      const auto parts = split_org_scoped_id(*instance);
      if (!parts) {
        if (first_failure.ok()) {
          first_failure = corrupt_event(header_of(event), event.type, "a command stream without org/command_id");
        }
        continue;
      }
      const std::string command_id(parts->name);
      auto found = commands_.find(command_id);
      const bool existed = found != commands_.end();
      CommandRecord record = existed ? found->second : CommandRecord{};
      Status folded = muster::apply(record, event);
      if (!folded) {
        if (first_failure.ok()) first_failure = folded;
        continue;
      }
      compact(record);
      if (existed) {
        unindex_locked(found->second);
        found->second = std::move(record);
      } else {
        by_creation_.emplace(record.created_position, command_id);
        found = commands_.emplace(command_id, std::move(record)).first;
        woken.push_back(found->second.agent_id);
      }
      index_locked(found->second);
      marks_.changed.insert(command_id);
    }
  }
  if (woken.empty()) return first_failure;
  QueuedHook hook;
  {
    std::lock_guard<std::mutex> lock(hook_mutex_);
    hook = on_queued_;
  }
  if (!hook) return first_failure;
  std::sort(woken.begin(), woken.end());
  woken.erase(std::unique(woken.begin(), woken.end()), woken.end());
  hook(woken);
  return first_failure;
}

std::uint64_t CommandQueue::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return position_;
}

std::optional<CommandRecord> CommandQueue::find(const std::string& command_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = commands_.find(command_id);
  if (found == commands_.end()) return std::nullopt;
  return found->second;
}

Result<CommandPage> CommandQueue::list(std::string_view org_scope, const CommandFilter& filter,
                                       std::size_t limit, const std::optional<std::string>& after) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  // The narrowest index the filter allows: an agent's or a batch's positions, else every command's.
  static const std::set<std::uint64_t> kNone;
  std::optional<std::set<std::uint64_t>> every;
  const std::set<std::uint64_t>* positions = nullptr;
  if (filter.agent_id) {
    const auto agent = agents_.find(*filter.agent_id);
    positions = agent == agents_.end() ? &kNone : &agent->second.all;
  } else if (filter.batch_id) {
    const auto batch = batches_.find(*filter.batch_id);
    positions = batch == batches_.end() ? &kNone : &batch->second.all;
  }
  std::uint64_t before = UINT64_MAX;
  if (after) {
    const auto found = commands_.find(*after);
    if (found == commands_.end() || !org_visible(org_scope, found->second.org)) {
      return invalid_field("cursor", "is not a cursor this server issued");
    }
    before = found->second.created_position;
  }
  CommandPage page;
  const auto take = [&](std::uint64_t position) {
    const CommandRecord& record = commands_.at(by_creation_.at(position));
    if (!matches(record, org_scope, filter)) return true;
    if (page.commands.size() == limit) {
      page.next_after = page.commands.back().command_id;
      return false;
    }
    page.commands.push_back(record);
    return true;
  };
  if (positions != nullptr) {
    for (auto next = std::make_reverse_iterator(positions->lower_bound(before)); next != positions->rend(); ++next) {
      if (!take(*next)) break;
    }
  } else {
    for (auto next = std::make_reverse_iterator(by_creation_.lower_bound(before)); next != by_creation_.rend();
         ++next) {
      if (!take(next->first)) break;
    }
  }
  return page;
}

std::size_t CommandQueue::pending_of(const AgentId& agent_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = agents_.find(agent_id);
  return found == agents_.end() ? 0 : found->second.queued;
}

std::vector<CommandRecord> CommandQueue::deliverable(const AgentId& agent_id, TimeMs now_ms,
                                                     TimeMs redeliver_after_ms, std::size_t limit) const {
  std::vector<CommandRecord> due;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = agents_.find(agent_id);
  if (found == agents_.end()) return due;
  for (const auto& entry : found->second.open) {
    if (due.size() == limit) break;
    const CommandRecord& record = commands_.at(entry.second);
    if (now_ms >= record.expires_at_ms) continue;
    const bool ready = record.state == CommandState::queued
                           ? now_ms >= record.not_before_ms
                           : now_ms >= record.delivered_at_ms + redeliver_after_ms;
    if (ready) due.push_back(record);
  }
  return due;
}

std::vector<CommandRecord> CommandQueue::open() const {
  std::vector<CommandRecord> open;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  for (const auto& entry : by_creation_) {
    const CommandRecord& record = commands_.at(entry.second);
    if (!is_final(record.state)) open.push_back(record);
  }
  return open;
}

std::optional<CommandStateCounts> CommandQueue::batch_counts(const std::string& batch_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = batches_.find(batch_id);
  if (found == batches_.end()) return std::nullopt;
  return found->second.counts;
}

Status CommandQueue::save_snapshot(SnapshotStore& store) {
  return save_changed_records(store, kSnapshotScope, kCommandEntry, mutex_, marks_, position_,
                              [this](const std::string& command_id) {
                                return encode_command(commands_.at(command_id));
                              });
}

Result<std::uint64_t> CommandQueue::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto loaded = load_keyed_records<CommandRecord>(
      store, kSnapshotScope, kCommandEntry, head_position, "the commands'", decode_command,
      [](const CommandRecord& record) { return record.command_id; });
  if (!loaded) return loaded.error();
  if (!*loaded) return std::uint64_t{0};
  std::unique_lock<std::shared_mutex> lock(mutex_);
  commands_.clear();
  by_creation_.clear();
  agents_.clear();
  batches_.clear();
  for (CommandRecord& record : (*loaded)->records) {
    const std::string command_id = record.command_id;
    by_creation_.emplace(record.created_position, command_id);
    const auto placed = commands_.emplace(command_id, std::move(record)).first;
    index_locked(placed->second);
  }
  marks_ = SnapshotMarks{{}, (*loaded)->position};
  position_ = (*loaded)->position;
  return position_;
}

}  // namespace muster
