#pragma once
/// History as operators read it: an agent's stream, or the whole log, with
/// what a caller may see of it. The rules (which events a scoped key sees,
/// that API-key and enrollment-token records are for admins only, that no
/// digest of a secret is ever served, how far one call scans) live here, not
/// in the HTTP layer.
///
/// Thread-safe: reads only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/agent/agent_id.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"
#include "projections/access_projection.hpp"
#include "projections/agent_registry.hpp"

namespace muster {

struct EventPage {
  /// As served: digests removed (see `redact_digests`).
  std::vector<Event> events;
  /// Where the next page starts (a version for a stream, a position for the
  /// log); nullopt when this page reached the end.
  std::optional<std::uint64_t> next;
  /// Reads of the log: the position after the last event looked at, kept or
  /// not (where to read on, also when `next` is nullopt).
  std::uint64_t resume_at = 0;
};

/// Which events of the log a read keeps, and how far it reads.
struct LogFilter {
  /// Only events of this type (any if empty).
  std::string type;
  /// Only AgentReported events of this report type (any if empty; see
  /// `is_report_of_type`).
  std::string report_type;
  /// Only events of this stream, such as "agent:<id>" (any if empty).
  std::string stream;
  /// Nothing after this position is read (a live reader stops where the
  /// read models are). Default: up to the head.
  std::uint64_t last_position = UINT64_MAX;
};

class EventQueries {
 public:
  /// A filtered read of the log scans at most this many events per call, so
  /// one request cannot walk a huge log; `next` says where to go on.
  static constexpr std::size_t kMaxEventsScanned = 10'000;

  /// References must outlive this.
  EventQueries(const EventStore& store, const AgentRegistry& registry, const AccessProjection& access)
      : store_(store), registry_(registry), access_(access) {}

  /// Up to `limit` events of the agent from `from_version`, digests removed.
  /// Refused with `not_found` / AGENT_NOT_FOUND for an agent never registered
  /// or of an organization `caller` does not cover; errors of the store.
  Result<EventPage> agent_events(const Principal& caller, const AgentId& agent_id, std::uint64_t from_version,
                                 std::size_t limit) const;

  /// Up to `limit` events from `from_position` of `type` (any if empty) that
  /// `caller` may see (`may_see`), digests removed, scanning at most
  /// `kMaxEventsScanned`. Events it may not see are skipped as if absent.
  /// A non-empty `report_type` keeps only AgentReported events of that
  /// report type (see `is_report_of_type`).
  Result<EventPage> log_events(const Principal& caller, std::uint64_t from_position, std::size_t limit,
                               const std::string& type, const std::string& report_type = {}) const;

  /// As above, keeping what `filter` keeps and reading nothing after
  /// `filter.last_position` (then `next` is nullopt, as at the head).
  Result<EventPage> log_events(const Principal& caller, std::uint64_t from_position, std::size_t limit,
                               const LogFilter& filter) const;

  /// True if `caller` may see the events of `stream`: its organization covers
  /// what the stream holds, and API-key, enrollment-token and user streams
  /// (names, roles, labels of credentials) only for an admin, as listing them is.
  bool may_see(const Principal& caller, std::string_view stream) const;

  /// True if `filter` keeps `event` and `caller` may see it: what
  /// `log_events` keeps of what it scans (the filter's last_position aside).
  bool wanted(const Principal& caller, const Event& event, const LogFilter& filter) const;

  /// The organization of what `stream` holds, as far as folded: an agent's,
  /// a key's, a token's or a user's from the read models, anything named
  /// "<org>/<name>" (a config, a rollout, an alert...) from its id; nullopt
  /// if unknown (a bulk job).
  std::optional<std::string> organization_of(std::string_view stream) const;

 private:
  const EventStore& store_;
  const AgentRegistry& registry_;
  const AccessProjection& access_;
};

/// `data` (an event's JSON object text) without any member whose name ends
/// in "_sha256" or "_argon2id", at any depth: the digests of API-key,
/// enrollment-token, agent-token and session secrets and users' password
/// hashes, which no reader needs and which would let anyone holding a log
/// excerpt check a candidate credential or password offline. Nullopt when `data` has none
/// (checked without parsing, so the common event costs one substring scan).
/// Text that does not parse as JSON is returned unchanged.
std::optional<std::string> redact_digests(std::string_view data);

/// `event` with `redact_digests` applied to its data.
Event redacted(Event event);

/// True if `event` is an AgentReported whose report type is `report_type`
/// (what `?report_type=` and `muster replay --report-type` select).
bool is_report_of_type(const EventView& event, std::string_view report_type);

}  // namespace muster
