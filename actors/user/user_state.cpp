#include "actors/user/user_state.hpp"

#include <algorithm>

#include "actors/runtime/stream_id.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

bool read_digest(const json& data, const char* key, Sha256& out) {
  std::string hex;
  if (!read(data, key, hex)) return false;
  const auto digest = sha256_from_hex(hex);
  if (!digest) return false;
  out = *digest;
  return true;
}

bool read_role(const json& data, const char* key, Role& out) {
  std::string text;
  if (!read(data, key, text)) return false;
  const auto role = parse_role(text);
  if (!role) return false;
  out = *role;
  return true;
}

json session_to_json(const UserSession& session) {
  json out{{"session_id", session.session_id},
           {"kind", to_string(session.kind)},
           {"secret_sha256", to_hex(session.secret_sha256)},
           {"started_at", session.started_at_ms},
           {"expires_at", session.expires_at_ms},
           {"refresh_expires_at", session.refresh_expires_at_ms}};
  if (session.refresh_sha256) out["refresh_sha256"] = to_hex(*session.refresh_sha256);
  return out;
}

bool session_from_json(const json& data, UserSession& session) {
  std::string kind;
  std::optional<std::string> refresh;
  if (!data.is_object() || !read(data, "session_id", session.session_id) || !read(data, "kind", kind) ||
      !read_digest(data, "secret_sha256", session.secret_sha256) || !read(data, "refresh_sha256", refresh) ||
      !read(data, "started_at", session.started_at_ms) || !read(data, "expires_at", session.expires_at_ms) ||
      !read(data, "refresh_expires_at", session.refresh_expires_at_ms)) {
    return false;
  }
  const auto parsed_kind = parse_session_kind(kind);
  if (!parsed_kind) return false;
  session.kind = *parsed_kind;
  if (refresh) {
    session.refresh_sha256 = sha256_from_hex(*refresh);
    if (!session.refresh_sha256) return false;
  }
  return true;
}

// Sessions past their last expiry at `now_ms` are gone.
void drop_expired(User& user, TimeMs now_ms) {
  for (auto session = user.sessions.begin(); session != user.sessions.end();) {
    session = session->second.last_expiry_ms() <= now_ms ? user.sessions.erase(session) : std::next(session);
  }
}

}  // namespace

bool is_valid_username(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  return std::all_of(text.begin(), text.end(), allowed) && text[0] != '.' && text[0] != '_' && text[0] != '-';
}

const char* to_string(SessionKind kind) {
  return kind == SessionKind::token ? "token" : "cookie";
}

std::optional<SessionKind> parse_session_kind(std::string_view text) {
  if (text == "cookie") return SessionKind::cookie;
  if (text == "token") return SessionKind::token;
  return std::nullopt;
}

json UserCreated::to_json() const {
  return {{"username", username},
          {"role", muster::to_string(role)},
          {"org", org},
          {"password_argon2id", password_argon2id}};
}

Result<UserCreated> UserCreated::from_json(const json& data, std::uint32_t) {
  UserCreated event;
  if (!read(data, "username", event.username) || !read_role(data, "role", event.role) ||
      !read(data, "org", event.org) || !read(data, "password_argon2id", event.password_argon2id)) {
    return payload_error("bad UserCreated payload");
  }
  return event;
}

json UserPasswordSet::to_json() const {
  return {{"password_argon2id", password_argon2id}};
}

Result<UserPasswordSet> UserPasswordSet::from_json(const json& data, std::uint32_t) {
  UserPasswordSet event;
  if (!read(data, "password_argon2id", event.password_argon2id))
    return payload_error("bad UserPasswordSet payload");
  return event;
}

json UserSessionStarted::to_json() const {
  json out{{"session_id", session_id},
           {"kind", muster::to_string(kind)},
           {"secret_sha256", to_hex(secret_sha256)},
           {"expires_at", expires_at_ms}};
  if (refresh_sha256) {
    out["refresh_sha256"] = to_hex(*refresh_sha256);
    out["refresh_expires_at"] = refresh_expires_at_ms;
  }
  return out;
}

Result<UserSessionStarted> UserSessionStarted::from_json(const json& data, std::uint32_t) {
  UserSessionStarted event;
  std::string kind;
  std::optional<std::string> refresh;
  if (!read(data, "session_id", event.session_id) || !read(data, "kind", kind) ||
      !read_digest(data, "secret_sha256", event.secret_sha256) || !read(data, "refresh_sha256", refresh) ||
      !read(data, "expires_at", event.expires_at_ms) ||
      !read(data, "refresh_expires_at", event.refresh_expires_at_ms, payload::Presence::optional)) {
    return payload_error("bad UserSessionStarted payload");
  }
  const auto parsed_kind = parse_session_kind(kind);
  if (!parsed_kind) return payload_error("bad UserSessionStarted payload");
  event.kind = *parsed_kind;
  if (refresh) {
    event.refresh_sha256 = sha256_from_hex(*refresh);
    if (!event.refresh_sha256) return payload_error("bad UserSessionStarted payload");
  }
  return event;
}

json UserSessionRefreshed::to_json() const {
  return {{"session_id", session_id},
          {"secret_sha256", to_hex(secret_sha256)},
          {"refresh_sha256", to_hex(refresh_sha256)},
          {"expires_at", expires_at_ms},
          {"refresh_expires_at", refresh_expires_at_ms}};
}

Result<UserSessionRefreshed> UserSessionRefreshed::from_json(const json& data, std::uint32_t) {
  UserSessionRefreshed event;
  if (!read(data, "session_id", event.session_id) ||
      !read_digest(data, "secret_sha256", event.secret_sha256) ||
      !read_digest(data, "refresh_sha256", event.refresh_sha256) ||
      !read(data, "expires_at", event.expires_at_ms) ||
      !read(data, "refresh_expires_at", event.refresh_expires_at_ms)) {
    return payload_error("bad UserSessionRefreshed payload");
  }
  return event;
}

Result<UserSessionEnded> UserSessionEnded::from_json(const json& data, std::uint32_t) {
  UserSessionEnded event;
  if (!read(data, "session_id", event.session_id) || !read(data, "reason", event.reason)) {
    return payload_error("bad UserSessionEnded payload");
  }
  return event;
}

bool operator==(const UserSession& left, const UserSession& right) {
  return left.session_id == right.session_id && left.kind == right.kind &&
         left.secret_sha256 == right.secret_sha256 && left.refresh_sha256 == right.refresh_sha256 &&
         left.started_at_ms == right.started_at_ms && left.expires_at_ms == right.expires_at_ms &&
         left.refresh_expires_at_ms == right.refresh_expires_at_ms;
}

bool operator==(const User& left, const User& right) {
  return left.username == right.username && left.role == right.role && left.org == right.org &&
         left.password_argon2id == right.password_argon2id && left.deleted == right.deleted &&
         left.created_at_ms == right.created_at_ms && left.password_set_at_ms == right.password_set_at_ms &&
         left.sessions == right.sessions && left.version == right.version &&
         left.last_position == right.last_position;
}

std::string encode_user(const User& user) {
  json sessions = json::array();
  for (const auto& [id, session] : user.sessions) sessions.push_back(session_to_json(session));
  return json{{"username", user.username},
              {"role", to_string(user.role)},
              {"org", user.org},
              {"password_argon2id", user.password_argon2id},
              {"deleted", user.deleted},
              {"created_at", user.created_at_ms},
              {"password_set_at", user.password_set_at_ms},
              {"sessions", std::move(sessions)},
              {"version", user.version},
              {"last_position", user.last_position}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<User> decode_user(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, false);
  User user;
  const auto deleted = data.is_object() ? data.find("deleted") : data.end();
  const auto sessions = data.is_object() ? data.find("sessions") : data.end();
  if (!data.is_object() || !read(data, "username", user.username) || !read_role(data, "role", user.role) ||
      !read(data, "org", user.org) || !read(data, "password_argon2id", user.password_argon2id) ||
      deleted == data.end() || !deleted->is_boolean() || !read(data, "created_at", user.created_at_ms) ||
      !read(data, "password_set_at", user.password_set_at_ms) || sessions == data.end() ||
      !sessions->is_array() || !read(data, "version", user.version) ||
      !read(data, "last_position", user.last_position)) {
    return payload_error("bad user snapshot");
  }
  user.deleted = deleted->get<bool>();
  for (const json& entry : *sessions) {
    UserSession session;
    if (!session_from_json(entry, session)) return payload_error("bad user snapshot session");
    user.sessions.emplace(session.session_id, std::move(session));
  }
  return user;
}

Status apply(User& user, const UserEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != user.version + 1) return corrupt_event(header, type, "out of version order");
  const bool created = std::holds_alternative<UserCreated>(event);
  if (!created && !user.exists()) return corrupt_event(header, type, "an event of a user who does not exist");
  User next = user;
  drop_expired(next, header.time_ms);
  if (const auto* made = std::get_if<UserCreated>(&event)) {
    if (user.exists()) return corrupt_event(header, type, "the user exists already");
    if (stream_id_of(header.stream, kUserKind) != std::optional<std::string_view>(made->username)) {
      return corrupt_event(header, type, "username differs from the stream id");
    }
    // A username deleted and made again is a new account: nothing of the old one carries over.
    next = User{};
    next.username = made->username;
    next.role = made->role;
    next.org = made->org;
    next.password_argon2id = made->password_argon2id;
    next.created_at_ms = header.time_ms;
    next.password_set_at_ms = header.time_ms;
  } else if (const auto* password = std::get_if<UserPasswordSet>(&event)) {
    next.password_argon2id = password->password_argon2id;
    next.password_set_at_ms = header.time_ms;
    next.sessions.clear();
  } else if (std::holds_alternative<UserDeleted>(event)) {
    next.deleted = true;
    next.sessions.clear();
  } else if (const auto* started = std::get_if<UserSessionStarted>(&event)) {
    if (next.sessions.count(started->session_id) != 0)
      return corrupt_event(header, type, "the session exists");
    next.sessions.emplace(
        started->session_id,
        UserSession{started->session_id, started->kind, started->secret_sha256, started->refresh_sha256,
                    header.time_ms, started->expires_at_ms, started->refresh_expires_at_ms});
  } else if (const auto* refreshed = std::get_if<UserSessionRefreshed>(&event)) {
    const auto found = next.sessions.find(refreshed->session_id);
    if (found == next.sessions.end() || found->second.kind != SessionKind::token) {
      return corrupt_event(header, type, "no live token session with this id");
    }
    found->second.secret_sha256 = refreshed->secret_sha256;
    found->second.refresh_sha256 = refreshed->refresh_sha256;
    found->second.expires_at_ms = refreshed->expires_at_ms;
    found->second.refresh_expires_at_ms = refreshed->refresh_expires_at_ms;
  } else if (const auto* ended = std::get_if<UserSessionEnded>(&event)) {
    // Ending a session that expired meanwhile is harmless: it is gone either way.
    next.sessions.erase(ended->session_id);
  } else {
    next.sessions.clear();
  }
  next.version = header.version;
  next.last_position = header.position;
  user = std::move(next);
  return Status::success();
}

Status apply(User& user, const Event& event) {
  return apply_stored<UserEvent>(user, event);
}

}  // namespace muster
