#pragma once
/// Secrets: random tokens, their SHA-256 digests, and comparison in constant
/// time. muster stores only digests; a plaintext secret exists in the answer
/// that issues it and nowhere else (no log line, no event, no error).

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace muster {

/// `byte_count` bytes from the OS's CSPRNG, base64url without padding.
/// Errors: `internal` if the OS has no randomness to give.
Result<std::string> random_token(std::size_t byte_count);

/// Lowercase hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

/// True if equal; the time taken depends only on the lengths.
bool constant_time_equal(std::string_view left, std::string_view right);

/// A credential as muster issues it: "<prefix>_<id>_<secret>". The id names
/// the record to check against, so verifying costs one lookup and one digest.
struct CredentialParts {
  std::string id;
  std::string secret;
};

/// Splits `text` into an id of exactly `id_length` characters and a non-empty
/// secret, if it reads "<prefix>_<id>_<secret>"; nullopt otherwise. The id's
/// characters are the caller's to check.
std::optional<CredentialParts> split_credential(std::string_view text, std::string_view prefix,
                                                std::size_t id_length);

}  // namespace muster
