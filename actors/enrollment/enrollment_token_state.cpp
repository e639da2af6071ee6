#include "actors/enrollment/enrollment_token_state.hpp"

#include <fmt/format.h>

#include "actors/runtime/stream_id.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

struct Folder {
  EnrollmentToken& token;
  const EventHeader& header;

  void operator()(const EnrollmentTokenCreated& created) const {
    token.token_id = created.token_id;
    token.name = created.name;
    token.org = created.org;
    token.labels = created.labels;
    token.expires_at_ms = created.expires_at_ms;
    token.max_uses = created.max_uses;
    token.secret_sha256 = created.secret_sha256;
    token.created_at_ms = header.time_ms;
  }
  void operator()(const EnrollmentTokenUsed&) const { ++token.uses; }
  void operator()(const EnrollmentTokenRevoked&) const { token.revoked = true; }
};

}  // namespace

json EnrollmentTokenCreated::to_json() const {
  json data = {{"token_id", token_id},         {"name", name},
               {"org", org},                   {"labels", labels},
               {"expires_at", expires_at_ms}, {"secret_sha256", to_hex(secret_sha256)}};
  if (max_uses) data["max_uses"] = *max_uses;
  return data;
}

Result<EnrollmentTokenCreated> EnrollmentTokenCreated::from_json(const json& data,
                                                                 std::uint32_t /*schema_version*/) {
  EnrollmentTokenCreated event;
  std::string secret;
  std::uint64_t expires_at = 0;
  if (!read(data, "token_id", event.token_id) || !read(data, "name", event.name) ||
      !read(data, "org", event.org) || !read(data, "labels", event.labels) ||
      !read(data, "expires_at", expires_at) || !read(data, "max_uses", event.max_uses) ||
      !read(data, "secret_sha256", secret)) {
    return payload_error("bad EnrollmentTokenCreated payload");
  }
  const auto digest = sha256_from_hex(secret);
  if (!digest) return payload_error("bad EnrollmentTokenCreated payload");
  event.secret_sha256 = *digest;
  event.expires_at_ms = static_cast<TimeMs>(std::min<std::uint64_t>(expires_at, INT64_MAX));
  return event;
}

json EnrollmentTokenUsed::to_json() const {
  return {{"agent_id", agent_id.to_string()}, {"instance_id", instance_id}};
}

Result<EnrollmentTokenUsed> EnrollmentTokenUsed::from_json(const json& data, std::uint32_t /*schema_version*/) {
  EnrollmentTokenUsed event;
  std::string agent_id;
  if (!read(data, "agent_id", agent_id) || !read(data, "instance_id", event.instance_id)) {
    return payload_error("bad EnrollmentTokenUsed payload");
  }
  const auto id = AgentId::parse(agent_id);
  if (!id) return payload_error("EnrollmentTokenUsed agent_id is not a UUID");
  event.agent_id = *id;
  return event;
}

std::string encode_enrollment_token(const EnrollmentToken& token) {
  json data = {{"token_id", token.token_id},
               {"name", token.name},
               {"org", token.org},
               {"labels", token.labels},
               {"expires_at", token.expires_at_ms},
               {"uses", token.uses},
               {"legacy_uses", token.legacy_uses},
               {"secret_sha256", to_hex(token.secret_sha256)},
               {"revoked", token.revoked},
               {"created_at", token.created_at_ms},
               {"version", token.version},
               {"last_position", token.last_position}};
  if (token.max_uses) data["max_uses"] = *token.max_uses;
  return data.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<EnrollmentToken> decode_enrollment_token(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, false);
  EnrollmentToken token;
  std::string secret;
  const auto revoked = data.is_object() ? data.find("revoked") : data.end();
  if (!data.is_object() || !read(data, "token_id", token.token_id) || !read(data, "name", token.name) ||
      !read(data, "org", token.org) || !read(data, "labels", token.labels) ||
      !read(data, "expires_at", token.expires_at_ms) || !read(data, "max_uses", token.max_uses) ||
      !read(data, "uses", token.uses) || !read(data, "legacy_uses", token.legacy_uses) ||
      !read(data, "secret_sha256", secret) || revoked == data.end() || !revoked->is_boolean() ||
      !read(data, "created_at", token.created_at_ms) || !read(data, "version", token.version) ||
      !read(data, "last_position", token.last_position)) {
    return payload_error("bad enrollment token snapshot");
  }
  const auto digest = sha256_from_hex(secret);
  if (!digest) return payload_error("bad enrollment token snapshot");
  token.secret_sha256 = *digest;
  token.revoked = revoked->get<bool>();
  return token;
}

bool operator==(const EnrollmentToken& left, const EnrollmentToken& right) {
  return left.token_id == right.token_id && left.name == right.name && left.org == right.org &&
         left.labels == right.labels && left.expires_at_ms == right.expires_at_ms &&
         left.max_uses == right.max_uses && left.uses == right.uses && left.legacy_uses == right.legacy_uses &&
         left.secret_sha256 == right.secret_sha256 && left.revoked == right.revoked &&
         left.created_at_ms == right.created_at_ms && left.version == right.version &&
         left.last_position == right.last_position;
}

Status apply(EnrollmentToken& token, const EnrollmentEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != token.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<EnrollmentTokenCreated>(&event)) {
    if (token.version != 0) return corrupt_event(header, type, "a token is created once");
    if (stream_id_of(header.stream, kEnrollmentKind) != std::optional<std::string_view>(created->token_id)) {
      return corrupt_event(header, type, "token_id differs from the stream id");
    }
  } else if (token.version == 0) {
    return corrupt_event(header, type, "an event of a token never created");
  }
  std::visit(Folder{token, header}, event);
  token.version = header.version;
  token.last_position = header.position;
  return Status::success();
}

Status apply(EnrollmentToken& token, const Event& event) { return apply_stored<EnrollmentEvent>(token, event); }

std::optional<std::string_view> why_dead(const EnrollmentToken& token, TimeMs now_ms) {
  if (token.revoked) return "revoked";
  if (now_ms >= token.expires_at_ms) return "expired";
  return std::nullopt;
}

std::optional<std::string_view> why_closed(const EnrollmentToken& token, TimeMs now_ms) {
  if (const auto dead = why_dead(token, now_ms)) return dead;
  if (token.max_uses && token.total_uses() >= *token.max_uses) return "used up";
  return std::nullopt;
}

}  // namespace muster
