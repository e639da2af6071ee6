#include "projections/rollouts.hpp"

#include <mutex>

#include <fmt/format.h>

#include "actors/organization.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

constexpr std::string_view kRolloutEntry = "rollout:";

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Status Rollouts::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    if (event.position <= position_) continue;
    position_ = event.position;
    const auto id = stream_id_of(event.stream, kRolloutKind);
    if (!id) continue;
    const auto scoped = split_org_scoped_id(*id);
    if (!scoped) continue;
    const std::string rollout_id(scoped->name);
    Rollout& rollout = rollouts_[rollout_id];
    const bool existed = rollout.exists();
    Status folded = muster::apply(rollout, event);
    if (!folded) {
      if (first_failure.ok()) first_failure = folded;
      if (!rollout.exists()) rollouts_.erase(rollout_id);
      continue;
    }
    if (!existed) by_creation_.emplace(rollout.created_position, rollout_id);
    changed_.insert(rollout_id);
  }
  return first_failure;
}

std::uint64_t Rollouts::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return position_;
}

std::optional<Rollout> Rollouts::find(const std::string& rollout_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = rollouts_.find(rollout_id);
  if (found == rollouts_.end()) return std::nullopt;
  return found->second;
}

Result<RolloutPage> Rollouts::list(std::string_view org_scope, std::size_t limit,
                                   const std::optional<std::string>& after) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto next = by_creation_.rbegin();
  if (after) {
    const auto found = rollouts_.find(*after);
    if (found == rollouts_.end() || !org_visible(org_scope, found->second.org)) {
      return invalid_field("cursor", "is not a cursor this server issued");
    }
    next = std::make_reverse_iterator(by_creation_.find(found->second.created_position));
  }
  RolloutPage page;
  for (; next != by_creation_.rend(); ++next) {
    const Rollout& rollout = rollouts_.at(next->second);
    if (!org_visible(org_scope, rollout.org)) continue;
    if (page.rollouts.size() == limit) {
      page.next_after = page.rollouts.back().rollout_id;
      break;
    }
    page.rollouts.push_back(rollout);
  }
  return page;
}

std::vector<Rollout> Rollouts::active(std::string_view org) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<Rollout> out;
  for (const auto& [position, rollout_id] : by_creation_) {
    const Rollout& rollout = rollouts_.at(rollout_id);
    if (rollout.active() && (org.empty() || rollout.org == org)) out.push_back(rollout);
  }
  return out;
}

Status Rollouts::save_snapshot(SnapshotStore& store) {
  std::vector<SnapshotEntry> entries;
  std::set<std::string> written;
  std::uint64_t position = 0;
  {
    // Exclusive: the entries and the position are one moment of the model.
    std::unique_lock<std::shared_mutex> lock(mutex_);
    if (changed_.empty() && position_ == snapshot_position_) return Status::success();
    for (const std::string& rollout_id : changed_) {
      entries.push_back({std::string(kRolloutEntry) + rollout_id,
                         dump(rollout_to_snapshot_json(rollouts_.at(rollout_id)))});
    }
    written.swap(changed_);
    position = position_;
  }
  Status saved = store.write(kSnapshotScope, entries, position);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (!saved) {
    changed_.insert(written.begin(), written.end());
    return saved;
  }
  snapshot_position_ = std::max(snapshot_position_, position);
  return saved;
}

Result<std::uint64_t> Rollouts::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto position = store.position(kSnapshotScope);
  if (!position) return position.error();
  if (!*position) return std::uint64_t{0};
  std::map<std::string, Rollout> rollouts;
  std::string damage;
  if (**position > head_position) {
    damage = fmt::format("it reflects position {}, past the log's head {}", **position, head_position);
  } else {
    Status read = store.for_each(kSnapshotScope, [&](std::string_view key, std::string_view value) {
      auto rollout = key.substr(0, kRolloutEntry.size()) == kRolloutEntry
                         ? rollout_from_snapshot_json(nlohmann::json::parse(value, nullptr, false))
                         : Result<Rollout>(payload_error("an entry of unknown kind"));
      if (!rollout || rollout->rollout_id != key.substr(kRolloutEntry.size()) || !rollout->exists()) {
        damage = rollout ? "an entry under another rollout's key" : rollout.error().message;
        return false;
      }
      rollouts.emplace(rollout->rollout_id, std::move(*rollout));
      return true;
    });
    if (!read) return read.error();
  }
  if (!damage.empty()) {
    log::warn("ignoring the rollouts' snapshot; folding the whole log instead", {{"reason", damage}});
    if (Status cleared = store.clear(kSnapshotScope); !cleared) return cleared.error();
    return std::uint64_t{0};
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  rollouts_ = std::move(rollouts);
  by_creation_.clear();
  for (const auto& [rollout_id, rollout] : rollouts_)
    by_creation_.emplace(rollout.created_position, rollout_id);
  changed_.clear();
  position_ = **position;
  snapshot_position_ = **position;
  return **position;
}

}  // namespace muster
