// Credentials as presented in "Authorization: Bearer ...". Input: '0' an API key
// ("mk_..."), '1' an enrollment token ("me_..."), '2' an agent token
// ("ma_..."), '3' "<id_length>:<prefix>:<text>" for split_credential itself.
//
// Each reader must accept exactly the shape "<prefix>_<id>_<secret>" its
// header documents and hand back the id and the SHA-256 of the secret: a
// reader that accepted a wrong shape would be checked against the wrong record.

#include <string>

#include "actors/access/credentials.hpp"
#include "actors/agent/agent_credentials.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "common/secrets.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

struct ExpectedParts {
  std::string_view id;
  std::string_view secret;
};

// The documented shape: prefix, '_', exactly `id_length` characters, '_', a non-empty secret.
std::optional<ExpectedParts> expected_parts(std::string_view text, std::string_view prefix,
                                            std::size_t id_length) {
  const std::size_t id_start = prefix.size() + 1;
  const std::size_t secret_start = id_start + id_length + 1;
  if (text.size() <= secret_start || text.substr(0, prefix.size()) != prefix) return std::nullopt;
  if (text[prefix.size()] != '_' || text[secret_start - 1] != '_') return std::nullopt;
  return ExpectedParts{text.substr(id_start, id_length), text.substr(secret_start)};
}

bool is_lowercase_hex(std::string_view text, std::size_t length) {
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

void check_record_credential(std::string_view text, std::string_view prefix) {
  const auto presented = muster::read_credential(text, prefix);
  const auto expected = expected_parts(text, prefix, 16);
  if (!expected || !is_lowercase_hex(expected->id, 16)) {
    FUZZ_REQUIRE(!presented);
    return;
  }
  FUZZ_REQUIRE(presented);
  FUZZ_REQUIRE(presented->id == expected->id);
  FUZZ_REQUIRE(muster::is_valid_credential_id(presented->id));
  FUZZ_REQUIRE(muster::to_hex(presented->secret_sha256) == muster::sha256_hex(expected->secret));
}

// A canonical agent id: 8-4-4-4-12 lowercase hex digits.
bool is_canonical_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t index = 0; index < text.size(); ++index) {
    const bool dash = index == 8 || index == 13 || index == 18 || index == 23;
    if (dash != (text[index] == '-')) return false;
    if (!dash && !is_lowercase_hex(text.substr(index, 1), 1)) return false;
  }
  return true;
}

// The shape, with an id that is an agent id: anything else names no agent.
void check_agent_token(std::string_view text) {
  const auto presented = muster::read_agent_token(text);
  const auto expected = expected_parts(text, muster::kAgentTokenPrefix, 36);
  FUZZ_REQUIRE(presented.has_value() == (expected.has_value() && is_canonical_uuid(expected->id)));
  if (!presented) return;
  FUZZ_REQUIRE(presented->agent_id.to_string() == expected->id);
  FUZZ_REQUIRE(muster::to_hex(presented->digest) == muster::sha256_hex(expected->secret));
}

void check_split(std::string_view text) {
  const std::size_t first_colon = text.find(':');
  if (first_colon == std::string_view::npos || first_colon == 0 || first_colon > 3) return;
  std::size_t id_length = 0;
  for (char c : text.substr(0, first_colon)) {
    if (c < '0' || c > '9') return;
    id_length = id_length * 10 + static_cast<std::size_t>(c - '0');
  }
  const std::size_t second_colon = text.find(':', first_colon + 1);
  if (second_colon == std::string_view::npos) return;
  const std::string_view prefix = text.substr(first_colon + 1, second_colon - first_colon - 1);
  const std::string_view credential = text.substr(second_colon + 1);
  const auto parts = muster::split_credential(credential, prefix, id_length);
  const auto expected = expected_parts(credential, prefix, id_length);
  FUZZ_REQUIRE(parts.has_value() == expected.has_value());
  if (!parts) return;
  FUZZ_REQUIRE(parts->id == expected->id && parts->id.size() == id_length);
  FUZZ_REQUIRE(parts->secret == expected->secret && !parts->secret.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto selected = muster::fuzz::select_parser(data, size, 4);
  if (!selected) return 0;
  switch (selected->parser) {
    case 0: check_record_credential(selected->text, muster::kApiKeyPrefix); break;
    case 1: check_record_credential(selected->text, muster::kEnrollmentTokenPrefix); break;
    case 2: check_agent_token(selected->text); break;
    case 3: check_split(selected->text); break;
  }
  return 0;
}
