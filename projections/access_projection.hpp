#pragma once
/// Who may call the API: every API key and enrollment token folded from the
/// log, checked per request in memory (one SHA-256 and a constant-time
/// compare; no store read). An enrollment token's uses are counted from the
/// agents' AgentTokenIssued events that name it.
///
/// Thread-safe: one writer (the runner) and many readers (HTTP handlers).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/access.hpp"
#include "actors/enrollment_tokens.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

/// The caller behind a request's API key.
struct Principal {
  std::string key_id;
  Role role = Role::viewer;
  std::string org{kAllOrgs};  ///< The organization the key may see, or "*".
};

/// An enrollment token that admitted a registration.
struct EnrollmentGrant {
  std::string token_id;
  std::string org;
  std::map<std::string, std::string> labels;
  /// The token is limited: one of its uses is held for this registration
  /// until `settle_enrollment`.
  bool reserved = false;
};

class AccessProjection {
 public:
  /// Folds the events of "apikey:" and "enrollment:" streams and the agents'
  /// AgentTokenIssued events in `batch`; ignores the rest. Returns the first
  /// failure, applying what it can.
  Status apply(const std::vector<Event>& batch);

  /// The principal of a live (unrevoked) key given as plaintext, if any.
  std::optional<Principal> authenticate(std::string_view plaintext) const;

  /// The grant of an enrollment token given as plaintext, if it is unrevoked,
  /// unexpired at `now_ms` and not used up. A limited token's use is
  /// reserved, so concurrent registrations never exceed `max_uses`: pass the
  /// grant to `settle_enrollment` when the registration is done.
  std::optional<EnrollmentGrant> admit_enrollment(std::string_view plaintext, TimeMs now_ms);

  /// Ends a grant's reservation: the registration failed (nullopt), or
  /// succeeded with its AgentTokenIssued event at `position`.
  void settle_enrollment(const EnrollmentGrant& grant, std::optional<std::uint64_t> position);

  /// Every key ever made, in key id order.
  std::vector<ApiKey> keys() const;
  std::optional<ApiKey> key(const std::string& key_id) const;
  bool has_keys() const;

  /// Every enrollment token ever made, in id order, with its uses.
  std::vector<EnrollmentToken> enrollment_tokens() const;
  std::optional<EnrollmentToken> enrollment_token(const std::string& token_id) const;

 private:
  void count_use(const std::string& token_id, std::uint64_t position);

  mutable std::shared_mutex mutex_;
  std::map<std::string, ApiKey> keys_by_id_;
  std::map<std::string, EnrollmentToken> tokens_by_id_;
  /// Per limited token: registrations admitted whose use is not folded yet...
  std::map<std::string, std::uint64_t> uses_in_flight_;
  /// ...and, of those, the ones known to have succeeded, by position, so the
  /// fold of that position ends the reservation.
  std::map<std::string, std::set<std::uint64_t>> settled_positions_;
  std::uint64_t position_ = 0;
};

}  // namespace muster
