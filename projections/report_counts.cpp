#include "projections/report_counts.hpp"

#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/agent/agent_events.hpp"
#include "actors/organization.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

using nlohmann::json;

constexpr const char* kCountsEntry = "counts";

std::int64_t hour_of(TimeMs time_ms) {
  return time_ms / ReportCounts::kHourMs;
}

}  // namespace

Status ReportCounts::apply(const std::vector<Event>& batch) {
  struct Counted {
    std::string org;
    std::string type;
    TimeMs time_ms;
  };
  const std::uint64_t after = position();
  Status first_failure;
  std::vector<Counted> counted;
  // Decoded before taking the lock: readers wait only for the counting.
  for (const Event& event : batch) {
    if (event.position <= after || event.type != AgentReported::kType.name) continue;
    const auto report = decode_payload<AgentEvent>(event.type, event.schema_version, event.data);
    const auto stream = parse_stream(event.stream);
    const auto agent_id = stream && stream->kind == kAgentKind ? AgentId::parse(stream->id) : std::nullopt;
    const auto org = agent_id ? registry_.org_of(*agent_id) : std::nullopt;
    if (!report || !org) {
      const Error failure = report
                                ? corrupt_event(header_of(event), event.type, "of an agent never registered")
                                : report.error();
      log::warn("report not counted",
                {{"position", std::to_string(event.position)}, {"error", failure.message}});
      if (first_failure.ok()) first_failure = failure;
      continue;
    }
    counted.push_back({*org, std::get<AgentReported>(*report).type, event.time_ms});
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Counted& report : counted) count(report.org, report.type, report.time_ms);
  if (!batch.empty() && batch.back().position > position_) {
    position_ = batch.back().position;
    changed_ = true;
  }
  return first_failure;
}

void ReportCounts::count(const std::string& org, const std::string& type, TimeMs time_ms) {
  const std::int64_t hour = hour_of(time_ms);
  Types& types = by_org_[org];
  auto found = types.find(type);
  if (found == types.end()) {
    // One name stays free for kOtherTypes.
    const auto has_room = [&types] { return types.size() + 1 < kMaxTypesPerOrg; };
    if (!has_room()) {
      // Make room by dropping types with nothing in the 24 hours up to this one.
      for (auto next = types.begin(); next != types.end();) {
        bool current = false;
        for (const Hour& slot : next->second) current = current || slot.hour > hour - std::int64_t{kHours};
        next = current ? std::next(next) : types.erase(next);
      }
    }
    found = types.try_emplace(has_room() ? type : std::string(kOtherTypes)).first;
  }
  Hour& slot = found->second[static_cast<std::size_t>(hour % std::int64_t{kHours})];
  if (slot.hour > hour) return;  // Older than the 24 hours this slot counts now.
  if (slot.hour < hour) slot = Hour{hour, 0};
  ++slot.count;
}

std::uint64_t ReportCounts::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return position_;
}

std::map<std::string, std::uint64_t> ReportCounts::last_24h(std::string_view org_scope, TimeMs now_ms) const {
  const std::int64_t now = hour_of(now_ms);
  std::map<std::string, std::uint64_t> totals;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  for (const auto& [org, types] : by_org_) {
    if (!org_visible(org_scope, org)) continue;
    for (const auto& [type, ring] : types) {
      std::uint64_t sum = 0;
      for (const Hour& slot : ring) {
        if (slot.hour <= now && slot.hour > now - std::int64_t{kHours}) sum += slot.count;
      }
      if (sum > 0) totals[type] += sum;
    }
  }
  return totals;
}

Status ReportCounts::save_snapshot(SnapshotStore& store) {
  json orgs = json::object();
  std::uint64_t position = 0;
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    if (!changed_) return Status::success();
    for (const auto& [org, types] : by_org_) {
      json& counts = orgs[org];
      counts = json::object();
      for (const auto& [type, ring] : types) {
        json hours = json::array();
        for (const Hour& slot : ring) {
          if (slot.hour >= 0) hours.push_back({slot.hour, slot.count});
        }
        counts[type] = std::move(hours);
      }
    }
    position = position_;
  }
  Status saved = store.write(kSnapshotScope, {{kCountsEntry, orgs.dump()}}, position);
  if (!saved) return saved;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  snapshot_position_ = std::max(snapshot_position_, position);
  changed_ = position_ != snapshot_position_;
  return saved;
}

Result<std::uint64_t> ReportCounts::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto position = store.position(kSnapshotScope);
  if (!position) return position.error();
  if (!*position) return std::uint64_t{0};
  std::map<std::string, Types, std::less<>> by_org;
  std::string damage;
  if (**position > head_position) {
    damage = fmt::format("it reflects position {}, past the log's head {}", **position, head_position);
  } else {
    const auto entry = store.get(kSnapshotScope, kCountsEntry);
    if (!entry) return entry.error();
    const json orgs = *entry ? json::parse(**entry, nullptr, false) : json();
    const auto valid_slot = [](const json& slot) {
      return slot.is_array() && slot.size() == 2 && slot[0].is_number_unsigned() &&
             slot[1].is_number_unsigned();
    };
    if (!orgs.is_object()) damage = "no counts, or counts that are not a JSON object";
    for (auto org = orgs.begin(); damage.empty() && org != orgs.end(); ++org) {
      if (!org->is_object()) damage = "an organization's counts are not an object";
      for (auto type = org->begin(); damage.empty() && type != org->end(); ++type) {
        Ring& ring = by_org[org.key()][type.key()];
        if (!type->is_array() || type->size() > kHours) damage = "a type's counts are not a list of hours";
        for (auto slot = type->begin(); damage.empty() && slot != type->end(); ++slot) {
          if (!valid_slot(*slot)) {
            damage = "an hour's count is not [hour, count]";
            break;
          }
          const auto hour = (*slot)[0].get<std::int64_t>();
          ring[static_cast<std::size_t>(hour % std::int64_t{kHours})] =
              Hour{hour, (*slot)[1].get<std::uint64_t>()};
        }
      }
    }
  }
  if (!damage.empty()) {
    log::warn("ignoring the report counts' snapshot; folding the whole log instead", {{"reason", damage}});
    if (Status cleared = store.clear(kSnapshotScope); !cleared) return cleared.error();
    return std::uint64_t{0};
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  by_org_ = std::move(by_org);
  position_ = **position;
  snapshot_position_ = **position;
  changed_ = false;
  return **position;
}

}  // namespace muster
