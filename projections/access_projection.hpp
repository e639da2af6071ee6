#pragma once
/// Who may call the API: every API key, enrollment token and user (with
/// their sessions) folded from the log (with the same `apply` their actors
/// use), checked per request in memory (one SHA-256 and a constant-time
/// compare; no store read).
///
/// It also counts the enrollment tokens' legacy uses: registrations of data
/// directories from before EnrollmentTokenUsed, recorded only as v1
/// AgentTokenIssued events naming the token. Those never grow again; the
/// token's actor adds them to its own count.
///
/// Folded by the projection runner, in log order; snapshotted whole at its
/// position (it is small). Thread-safe: one writer, many readers.

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/user/user_state.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// An enrollment token presented for a registration, as far as the read
/// model can tell: its id and organization. Its actor decides the use.
struct EnrollmentGrant {
  std::string token_id;
  std::string org;
  Sha256 secret_sha256{};
  /// The token has admitted its `max_uses`: it lets only known instances
  /// register again (which spend no use), no new ones.
  bool used_up = false;
};

/// A user's live session, as a request presented its secret: the principal
/// carries the role and organization the user has now.
struct SessionCaller {
  Principal principal;
  std::string session_id;
  SessionKind kind = SessionKind::cookie;
  TimeMs expires_at_ms = 0;
};

class AccessProjection : public ReadModel {
 public:
  /// Folds the events of "apikey:", "enrollment:" and "user:" streams and the legacy
  /// uses in `batch`, skipping events at or before `position()` (a snapshot
  /// holds them). Returns the first failure, applying what it can.
  Status apply(const std::vector<Event>& batch) override;
  /// The last log position folded.
  std::uint64_t position() const;

  /// The principal of a live (unrevoked) key given as plaintext, if any.
  std::optional<Principal> authenticate(std::string_view plaintext) const;

  /// The grant of an enrollment token given as plaintext, if it is known,
  /// its secret matches and it is live at `now_ms` (unrevoked, unexpired);
  /// `used_up` says whether it still admits new instances. A cheap filter:
  /// the token's own actor decides each registration.
  std::optional<EnrollmentGrant> check_enrollment(std::string_view plaintext, TimeMs now_ms) const;

  /// The session of a cookie or bearer access token ("ms_...") if it is
  /// live at `now_ms`: known, its secret matches, unexpired, its user exists.
  std::optional<SessionCaller> authenticate_session(std::string_view plaintext, TimeMs now_ms) const;
  /// The user holding session `session_id`, if it is in the model (live or
  /// expired since the user's last event).
  std::optional<User> session_owner(const std::string& session_id) const;
  /// The users that exist (not deleted), in name order; one by name.
  std::vector<User> users() const;
  std::optional<User> user(const std::string& username) const;

  /// Every key ever made, in key id order.
  std::vector<ApiKey> keys() const;
  std::optional<ApiKey> key(const std::string& key_id) const;
  bool has_keys() const;

  /// Every enrollment token ever made, in id order, its legacy uses included.
  std::vector<EnrollmentToken> enrollment_tokens() const;
  std::optional<EnrollmentToken> enrollment_token(const std::string& token_id) const;
  /// The token's uses recorded before EnrollmentTokenUsed existed.
  std::uint64_t legacy_uses(const std::string& token_id) const;

  static constexpr const char* kSnapshotScope = "access";
  std::string_view name() const override { return kSnapshotScope; }
  /// Writes the whole model and its position if the model changed since the
  /// last call, or only the position if just the log moved on.
  Status save_snapshot(SnapshotStore& store) override;
  /// Loads the snapshot into an empty model; returns its position (0 for
  /// none). A snapshot past `head_position` or one that cannot be decoded is
  /// dropped and the model left empty (0), so the caller folds the whole log.
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  EnrollmentToken with_legacy_uses(EnrollmentToken token) const;
  void record_snapshot_position(std::uint64_t position);
  /// Folds a user's event and keeps `session_owners_` in step.
  Status apply_user(const std::string& username, const Event& event);

  mutable std::shared_mutex mutex_;
  std::map<std::string, ApiKey> keys_by_id_;
  std::map<std::string, EnrollmentToken> tokens_by_id_;
  std::map<std::string, std::uint64_t> legacy_uses_;
  std::map<std::string, User> users_;
  /// Session id -> username, for every session a user's state holds.
  std::map<std::string, std::string> session_owners_;
  std::uint64_t position_ = 0;
  std::uint64_t snapshot_position_ = 0;  ///< The position of the last snapshot written or loaded.
  bool changed_since_snapshot_ = false;
};

}  // namespace muster
