#include "actors/enrollment_tokens.hpp"

#include <algorithm>
#include <climits>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "actors/credential_records.hpp"

namespace muster {
namespace {

constexpr const char* kCreated = "EnrollmentTokenCreated";
constexpr const char* kRevoked = "EnrollmentTokenRevoked";

std::string stream_of(const std::string& token_id) {
  return std::string(kEnrollmentStreamPrefix) + token_id;
}

}  // namespace

Status apply(EnrollmentToken& token, const Event& event) {
  if (event.version != token.version + 1) return record_corruption(event, "out of version order");
  const auto data = nlohmann::json::parse(event.data, nullptr, false);
  if (!data.is_object()) return record_corruption(event, "payload is not a JSON object");
  EnrollmentToken next = token;
  if (event.type == kCreated) {
    const auto token_id = payload_text(data, "token_id", true);
    const auto name = payload_text(data, "name", true);
    const auto org = payload_text(data, "org", true);
    const auto secret_sha256 = payload_text(data, "secret_sha256", true);
    const auto expires_at = payload_count(data, "expires_at");
    const auto max_uses = payload_count(data, "max_uses");
    const auto labels = data.find("labels");
    const bool labels_ok =
        labels != data.end() && labels->is_object() &&
        std::all_of(labels->begin(), labels->end(), [](const auto& value) { return value.is_string(); });
    if (!token_id || !name || !org || !secret_sha256 || !expires_at || !labels_ok ||
        (data.contains("max_uses") && !max_uses)) {
      return record_corruption(event, "bad EnrollmentTokenCreated payload");
    }
    next.token_id = *token_id;
    next.name = *name;
    next.org = *org;
    next.secret_sha256 = *secret_sha256;
    next.expires_at_ms = static_cast<TimeMs>(std::min<std::uint64_t>(*expires_at, INT64_MAX));
    next.max_uses = max_uses;
    next.labels = labels->get<std::map<std::string, std::string>>();
    next.created_at_ms = event.time_ms;
  } else if (event.type == kRevoked) {
    if (token.version == 0) return record_corruption(event, "revocation of a token never created");
    next.revoked = true;
  } else {
    return record_corruption(event, "unknown event type");
  }
  next.version = event.version;
  token = std::move(next);
  return Status::success();
}

std::optional<std::string_view> why_closed(const EnrollmentToken& token, TimeMs now_ms,
                                           std::uint64_t in_flight) {
  if (token.revoked) return "revoked";
  if (now_ms >= token.expires_at_ms) return "expired";
  if (token.max_uses && token.uses + in_flight >= *token.max_uses) return "used up";
  return std::nullopt;
}

Result<IssuedEnrollmentToken> issue_enrollment_token(EventStore& store, const EnrollmentTokenRequest& request,
                                                     TimeMs now_ms, const std::string& meta) {
  auto made = new_credential(kEnrollmentTokenPrefix);
  if (!made) return made.error();
  IssuedEnrollmentToken issued;
  EnrollmentToken& token = issued.token;
  token.token_id = made->id;
  token.name = request.name;
  token.org = request.org;
  token.labels = request.labels;
  token.expires_at_ms = now_ms + request.expires_in_ms;
  token.max_uses = request.max_uses;
  token.secret_sha256 = made->secret_sha256;
  issued.plaintext = std::move(made->plaintext);
  nlohmann::json data = {{"token_id", token.token_id},
                         {"name", token.name},
                         {"org", token.org},
                         {"labels", token.labels},
                         {"expires_at", token.expires_at_ms},
                         {"secret_sha256", token.secret_sha256}};
  if (token.max_uses) data["max_uses"] = *token.max_uses;
  auto appended =
      store.append(stream_of(token.token_id), kNewStream, {NewEvent{kCreated, data.dump(), meta}});
  if (!appended) return appended.error();
  token.created_at_ms = appended->time_ms;
  token.version = 1;
  issued.position = appended->last_position;
  return issued;
}

Result<std::uint64_t> revoke_enrollment_token(EventStore& store, const std::string& token_id,
                                              const std::string& meta) {
  return revoke_credential(store, stream_of(token_id), kRevoked, {"enrollment token", "ENROLLMENT_TOKEN"},
                           meta);
}

}  // namespace muster
