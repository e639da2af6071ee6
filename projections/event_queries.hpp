#pragma once
/// History as operators read it: an agent's stream, or the whole log, with
/// what a caller scoped to an organization may see of it. The rules (which
/// events a scoped key sees, how far one call scans) live here, not in the
/// HTTP layer.
///
/// Thread-safe: reads only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/agent/agent_id.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"
#include "projections/access_projection.hpp"
#include "projections/agent_registry.hpp"

namespace muster {

struct EventPage {
  std::vector<Event> events;
  /// Where the next page starts (a version for a stream, a position for the
  /// log); nullopt when this page reached the end.
  std::optional<std::uint64_t> next;
};

class EventQueries {
 public:
  /// A filtered read of the log scans at most this many events per call, so
  /// one request cannot walk a huge log; `next` says where to go on.
  static constexpr std::size_t kMaxEventsScanned = 10'000;

  /// References must outlive this.
  EventQueries(const EventStore& store, const AgentRegistry& registry, const AccessProjection& access)
      : store_(store), registry_(registry), access_(access) {}

  /// Up to `limit` events of the agent from `from_version`. Refused with
  /// `not_found` / AGENT_NOT_FOUND for an agent never registered or of an
  /// organization `org_scope` does not cover; errors of the store.
  Result<EventPage> agent_events(std::string_view org_scope, const AgentId& agent_id, std::uint64_t from_version,
                                 std::size_t limit) const;

  /// Up to `limit` events from `from_position` of `type` (any if empty) that
  /// `org_scope` covers, scanning at most `kMaxEventsScanned`.
  Result<EventPage> log_events(std::string_view org_scope, std::uint64_t from_position, std::size_t limit,
                               const std::string& type) const;

  /// The organization of what `stream` holds (an agent, an API key, an
  /// enrollment token), as far as folded; nullopt if unknown.
  std::optional<std::string> organization_of(std::string_view stream) const;

 private:
  bool visible(std::string_view org_scope, std::string_view stream) const;

  const EventStore& store_;
  const AgentRegistry& registry_;
  const AccessProjection& access_;
};

}  // namespace muster
