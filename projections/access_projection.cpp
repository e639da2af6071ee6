#include "projections/access_projection.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "actors/access/credentials.hpp"
#include "actors/agent/agent_events.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/bytes.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

template <class Record>
std::optional<Record> find_in(const std::map<std::string, Record>& records, const std::string& id) {
  const auto found = records.find(id);
  if (found == records.end()) return std::nullopt;
  return found->second;
}

// Snapshot keys: one entry per key, token and legacy count.
constexpr std::string_view kKeyEntry = "key:";
constexpr std::string_view kTokenEntry = "token:";
constexpr std::string_view kLegacyEntry = "legacy:";
constexpr std::string_view kUserEntry = "user:";

}  // namespace

Status AccessProjection::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    if (event.position <= position_) continue;
    position_ = event.position;
    Status folded;
    const auto stream = parse_stream(event.stream);
    if (!stream) continue;
    if (stream->kind == kApiKeyKind) {
      folded = muster::apply(keys_by_id_[std::string(stream->id)], event);
    } else if (stream->kind == kEnrollmentKind) {
      folded = muster::apply(tokens_by_id_[std::string(stream->id)], event);
    } else if (stream->kind == kUserKind) {
      folded = apply_user(std::string(stream->id), event);
    } else if (stream->kind == kAgentKind && event.type == AgentTokenIssued::kType.name && event.schema_version == 1) {
      // Only v1 token events can be legacy uses: decode no other agent event.
      auto payload = decode_payload<AgentEvent>(event.type, event.schema_version, event.data);
      const auto* issued = payload ? std::get_if<AgentTokenIssued>(&*payload) : nullptr;
      if (issued != nullptr && issued->legacy_use) ++legacy_uses_[*issued->enrollment_token_id];
    } else {
      continue;
    }
    changed_since_snapshot_ = true;
    if (!folded && first_failure.ok()) first_failure = folded;
  }
  return first_failure;
}

Status AccessProjection::apply_user(const std::string& username, const Event& event) {
  User& user = users_[username];
  for (const auto& [id, session] : user.sessions) session_owners_.erase(id);
  Status folded = muster::apply(user, event);
  for (const auto& [id, session] : user.sessions) session_owners_[id] = username;
  return folded;
}

std::uint64_t AccessProjection::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return position_;
}

std::optional<Principal> AccessProjection::authenticate(std::string_view plaintext) const {
  const auto presented = read_credential(plaintext, kApiKeyPrefix);
  if (!presented) return std::nullopt;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = keys_by_id_.find(presented->id);
  if (found == keys_by_id_.end() || found->second.version == 0 || found->second.revoked ||
      !constant_time_equal(presented->secret_sha256, found->second.secret_sha256)) {
    return std::nullopt;
  }
  return Principal{found->second.key_id, found->second.role, found->second.org};
}

std::optional<SessionCaller> AccessProjection::authenticate_session(std::string_view plaintext,
                                                                   TimeMs now_ms) const {
  const auto presented = read_credential(plaintext, kSessionPrefix);
  if (!presented) return std::nullopt;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto owner = session_owners_.find(presented->id);
  if (owner == session_owners_.end()) return std::nullopt;
  const User& user = users_.at(owner->second);
  const auto session = user.sessions.find(presented->id);
  if (!user.exists() || session == user.sessions.end() || session->second.expires_at_ms <= now_ms ||
      !constant_time_equal(presented->secret_sha256, session->second.secret_sha256)) {
    return std::nullopt;
  }
  return SessionCaller{Principal{"", user.role, user.org, user.username}, session->first, session->second.kind,
                       session->second.expires_at_ms};
}

std::optional<User> AccessProjection::session_owner(const std::string& session_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto owner = session_owners_.find(session_id);
  if (owner == session_owners_.end()) return std::nullopt;
  return users_.at(owner->second);
}

std::vector<User> AccessProjection::users() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<User> all;
  for (const auto& [name, user] : users_) {
    if (user.exists()) all.push_back(user);
  }
  return all;
}

std::optional<User> AccessProjection::user(const std::string& username) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = users_.find(username);
  if (found == users_.end() || !found->second.exists()) return std::nullopt;
  return found->second;
}

std::optional<EnrollmentGrant> AccessProjection::check_enrollment(std::string_view plaintext,
                                                                  TimeMs now_ms) const {
  const auto presented = read_credential(plaintext, kEnrollmentTokenPrefix);
  if (!presented) return std::nullopt;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = tokens_by_id_.find(presented->id);
  if (found == tokens_by_id_.end() || found->second.version == 0 ||
      !constant_time_equal(presented->secret_sha256, found->second.secret_sha256) ||
      why_dead(found->second, now_ms)) {
    return std::nullopt;
  }
  const bool used_up = why_closed(with_legacy_uses(found->second), now_ms).has_value();
  return EnrollmentGrant{found->second.token_id, found->second.org, presented->secret_sha256, used_up};
}

std::vector<ApiKey> AccessProjection::keys() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<ApiKey> all;
  for (const auto& [id, key] : keys_by_id_) {
    if (key.version > 0) all.push_back(key);
  }
  return all;
}

std::optional<ApiKey> AccessProjection::key(const std::string& key_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto key = find_in(keys_by_id_, key_id);
  if (key && key->version == 0) return std::nullopt;
  return key;
}

bool AccessProjection::has_keys() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return !keys_by_id_.empty();
}

EnrollmentToken AccessProjection::with_legacy_uses(EnrollmentToken token) const {
  const auto found = legacy_uses_.find(token.token_id);
  token.legacy_uses = found == legacy_uses_.end() ? 0 : found->second;
  return token;
}

std::vector<EnrollmentToken> AccessProjection::enrollment_tokens() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<EnrollmentToken> all;
  for (const auto& [id, token] : tokens_by_id_) {
    if (token.version > 0) all.push_back(with_legacy_uses(token));
  }
  return all;
}

std::optional<EnrollmentToken> AccessProjection::enrollment_token(const std::string& token_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = tokens_by_id_.find(token_id);
  if (found == tokens_by_id_.end() || found->second.version == 0) return std::nullopt;
  return with_legacy_uses(found->second);
}

std::uint64_t AccessProjection::legacy_uses(const std::string& token_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = legacy_uses_.find(token_id);
  return found == legacy_uses_.end() ? 0 : found->second;
}

Status AccessProjection::save_snapshot(SnapshotStore& store) {
  std::vector<SnapshotEntry> entries;
  std::uint64_t position = 0;
  {
    // Exclusive: the entries and the position are one moment of the model.
    std::unique_lock<std::shared_mutex> lock(mutex_);
    if (!changed_since_snapshot_ && position_ == snapshot_position_) return Status::success();
    // Nothing of ours changed, but the log moved on (agents' events): moving
    // the position alone spares the next start from reading that tail.
    if (!changed_since_snapshot_) {
      position = position_;
      lock.unlock();
      Status written = store.write(kSnapshotScope, {}, position);
      if (written) record_snapshot_position(position);
      return written;
    }
    for (const auto& [id, key] : keys_by_id_) {
      if (key.version > 0) entries.push_back({std::string(kKeyEntry) + id, encode_api_key(key)});
    }
    for (const auto& [id, token] : tokens_by_id_) {
      if (token.version > 0) entries.push_back({std::string(kTokenEntry) + id, encode_enrollment_token(token)});
    }
    for (const auto& [name, user] : users_) {
      if (user.version > 0) entries.push_back({std::string(kUserEntry) + name, encode_user(user)});
    }
    for (const auto& [id, count] : legacy_uses_) {
      std::string value;
      bytes::put_varint(value, count);
      entries.push_back({std::string(kLegacyEntry) + id, std::move(value)});
    }
    position = position_;
    changed_since_snapshot_ = false;
  }
  Status written = store.write(kSnapshotScope, entries, position);
  if (!written) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    changed_since_snapshot_ = true;
    return written;
  }
  record_snapshot_position(position);
  return written;
}

void AccessProjection::record_snapshot_position(std::uint64_t position) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  snapshot_position_ = std::max(snapshot_position_, position);
}

Result<std::uint64_t> AccessProjection::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto position = store.position(kSnapshotScope);
  if (!position) return position.error();
  if (!*position) return std::uint64_t{0};
  std::map<std::string, ApiKey> keys;
  std::map<std::string, EnrollmentToken> tokens;
  std::map<std::string, std::uint64_t> legacy;
  std::map<std::string, User> users;
  std::string damage;
  if (**position > head_position) {
    damage = fmt::format("it reflects position {}, past the log's head {}", **position, head_position);
  } else {
    Status read = store.for_each(kSnapshotScope, [&](std::string_view key, std::string_view value) {
      if (key.substr(0, kKeyEntry.size()) == kKeyEntry) {
        auto decoded = decode_api_key(value);
        if (!decoded) damage = decoded.error().message;
        if (decoded) keys.emplace(std::string(key.substr(kKeyEntry.size())), std::move(*decoded));
      } else if (key.substr(0, kTokenEntry.size()) == kTokenEntry) {
        auto decoded = decode_enrollment_token(value);
        if (!decoded) damage = decoded.error().message;
        if (decoded) tokens.emplace(std::string(key.substr(kTokenEntry.size())), std::move(*decoded));
      } else if (key.substr(0, kUserEntry.size()) == kUserEntry) {
        auto decoded = decode_user(value);
        if (!decoded) damage = decoded.error().message;
        if (decoded) users.emplace(std::string(key.substr(kUserEntry.size())), std::move(*decoded));
      } else if (key.substr(0, kLegacyEntry.size()) == kLegacyEntry) {
        bytes::Reader reader(value);
        const auto count = reader.read_varint();
        if (!count || !reader.at_end()) damage = "bad legacy use count";
        if (count) legacy[std::string(key.substr(kLegacyEntry.size()))] = *count;
      } else {
        damage = "an entry of unknown kind";
      }
      return damage.empty();
    });
    if (!read) return read.error();
  }
  if (!damage.empty()) {
    log::warn("ignoring the access snapshot; folding the whole log instead", {{"reason", damage}});
    if (Status cleared = store.clear(kSnapshotScope); !cleared) return cleared.error();
    return std::uint64_t{0};
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  keys_by_id_ = std::move(keys);
  tokens_by_id_ = std::move(tokens);
  legacy_uses_ = std::move(legacy);
  users_ = std::move(users);
  session_owners_.clear();
  for (const auto& [name, user] : users_) {
    for (const auto& [id, session] : user.sessions) session_owners_[id] = name;
  }
  position_ = **position;
  snapshot_position_ = **position;
  changed_since_snapshot_ = false;
  return **position;
}

}  // namespace muster
