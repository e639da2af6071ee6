#pragma once
/// What API keys and enrollment tokens share: each is a record in a stream
/// "<kind>:<id>" whose id is 16 hex digits and whose secret is 32 random
/// bytes, of which only the SHA-256 is stored. The plaintext a caller
/// presents reads "<prefix>_<id>_<secret>", so checking it costs one
/// in-memory lookup, one SHA-256 and a constant-time compare.

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/secrets.hpp"

namespace muster {

struct NewCredential {
  std::string id;
  Sha256 secret_sha256{};
  std::string plaintext;  ///< Exists only here: hand it to the caller once.
};

/// A fresh id and secret. Errors: `internal` if the OS has no randomness.
Result<NewCredential> new_credential(std::string_view prefix);

/// True for a record id: 16 lowercase hex digits.
bool is_valid_credential_id(std::string_view text);

/// A plaintext as presented: the record it names and its secret's digest.
struct PresentedCredential {
  std::string id;
  Sha256 secret_sha256{};
};

/// Reads "<prefix>_<id>_<secret>"; nullopt if `plaintext` has another shape.
std::optional<PresentedCredential> read_credential(std::string_view plaintext, std::string_view prefix);

}  // namespace muster
