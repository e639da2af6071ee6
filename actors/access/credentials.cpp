#include "actors/access/credentials.hpp"

#include <fmt/format.h>

namespace muster {
namespace {

constexpr std::size_t kIdLength = 16;  // random_id()'s length

}  // namespace

Result<NewCredential> new_credential(std::string_view prefix) {
  auto id = random_id();
  auto secret = random_token(32);
  if (!id) return id.error();
  if (!secret) return secret.error();
  NewCredential made;
  made.id = std::move(*id);
  made.secret_sha256 = sha256(*secret);
  made.plaintext = fmt::format("{}_{}_{}", prefix, made.id, *secret);
  return made;
}

bool is_valid_credential_id(std::string_view text) {
  return text.size() == kIdLength && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::optional<PresentedCredential> read_credential(std::string_view plaintext, std::string_view prefix) {
  auto parts = split_credential(plaintext, prefix, kIdLength);
  if (!parts || !is_valid_credential_id(parts->id)) return std::nullopt;
  return PresentedCredential{std::move(parts->id), sha256(parts->secret)};
}

}  // namespace muster
