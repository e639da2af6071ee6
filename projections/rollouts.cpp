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
    marks_.changed.insert(rollout_id);
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
  auto page = newest_first(rollouts_, by_creation_, org_scope, limit, after,
                           [](const Rollout& rollout) { return rollout.rollout_id; });
  if (!page) return page.error();
  return RolloutPage{std::move(page->records), std::move(page->next_after)};
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
  return save_changed_records(store, kSnapshotScope, kRolloutEntry, mutex_, marks_, position_,
                              [this](const std::string& rollout_id) {
                                return dump(rollout_to_snapshot_json(rollouts_.at(rollout_id)));
                              });
}

Result<std::uint64_t> Rollouts::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto loaded = load_keyed_records<Rollout>(
      store, kSnapshotScope, kRolloutEntry, head_position, "the rollouts'",
      [](std::string_view bytes) { return rollout_from_snapshot_json(nlohmann::json::parse(bytes, nullptr, false)); },
      [](const Rollout& rollout) { return rollout.rollout_id; });
  if (!loaded) return loaded.error();
  if (!*loaded) return std::uint64_t{0};
  std::unique_lock<std::shared_mutex> lock(mutex_);
  rollouts_.clear();
  by_creation_.clear();
  for (Rollout& rollout : (*loaded)->records) {
    by_creation_.emplace(rollout.created_position, rollout.rollout_id);
    const std::string rollout_id = rollout.rollout_id;
    rollouts_.emplace(rollout_id, std::move(rollout));
  }
  marks_ = SnapshotMarks{{}, (*loaded)->position};
  position_ = (*loaded)->position;
  return position_;
}

}  // namespace muster
