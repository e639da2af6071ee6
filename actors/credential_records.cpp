#include "actors/credential_records.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/secrets.hpp"

namespace muster {
namespace {

constexpr std::size_t kIdLength = 16;

}  // namespace

Result<NewCredential> new_credential(std::string_view prefix) {
  auto id_bytes = random_token(12);
  auto secret = random_token(32);
  if (!id_bytes) return id_bytes.error();
  if (!secret) return secret.error();
  NewCredential made;
  made.id = sha256_hex(*id_bytes).substr(0, kIdLength);
  made.secret_sha256 = sha256_hex(*secret);
  made.plaintext = fmt::format("{}_{}_{}", prefix, made.id, *secret);
  return made;
}

bool is_valid_credential_id(std::string_view text) {
  return text.size() == kIdLength && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::optional<PresentedCredential> read_credential(std::string_view plaintext, std::string_view prefix) {
  auto parts = split_credential(plaintext, prefix, kIdLength);
  if (!parts || !is_valid_credential_id(parts->id)) return std::nullopt;
  return PresentedCredential{std::move(parts->id), sha256_hex(parts->secret)};
}

std::optional<std::string> payload_text(const nlohmann::json& data, const char* key, bool required) {
  const auto found = data.find(key);
  if (found == data.end()) return required ? std::nullopt : std::optional<std::string>(std::string());
  if (!found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

std::optional<std::uint64_t> payload_count(const nlohmann::json& data, const char* key) {
  const auto found = data.find(key);
  // Unsigned, or a signed integer that is not negative; never a float (which
  // would convert with undefined behaviour when out of range).
  if (found == data.end() || !found->is_number_integer()) return std::nullopt;
  if (!found->is_number_unsigned() && found->get<std::int64_t>() < 0) return std::nullopt;
  return found->get<std::uint64_t>();
}

Error record_corruption(const Event& event, std::string_view why) {
  return make_error(ErrorCode::corruption, fmt::format("event at position {} ({} of '{}'): {}",
                                                       event.position, event.type, event.stream, why));
}

std::optional<std::string> record_id_of(std::string_view stream, std::string_view prefix) {
  if (stream.substr(0, prefix.size()) != prefix) return std::nullopt;
  return std::string(stream.substr(prefix.size()));
}

Result<std::uint64_t> revoke_credential(EventStore& store, const std::string& stream,
                                        const char* revoked_type, RecordKind kind, const std::string& meta) {
  const auto current = store.stream_version(stream);
  if (!current) return current.error();
  const std::uint64_t version = *current;
  if (version == 0) {
    return make_error(ErrorCode::not_found, fmt::format("no {} with this id", kind.noun),
                      fmt::format("{}_NOT_FOUND", kind.code));
  }
  if (version > 1) {
    return make_error(ErrorCode::conflict, fmt::format("this {} is already revoked", kind.noun),
                      fmt::format("{}_REVOKED", kind.code));
  }
  auto appended = store.append(stream, version, {NewEvent{revoked_type, "{}", meta}});
  if (!appended) return appended.error();
  return appended->last_position;
}

}  // namespace muster
