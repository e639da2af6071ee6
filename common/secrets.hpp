#pragma once
/// Secrets: random tokens, their SHA-256 digests, and comparison in constant
/// time. muster stores only digests; a plaintext secret exists in the answer
/// that issues it and nowhere else (no log line, no event, no error).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace muster {

/// `byte_count` bytes from the OS's CSPRNG, base64url without padding.
/// Errors: `internal` if the OS has no randomness to give.
Result<std::string> random_token(std::size_t byte_count);

/// A fresh id for a record muster creates (a job, a command, a rollout, a
/// rule, a channel, a credential): 16 lowercase hex digits drawn from 12
/// random bytes. Errors: as `random_token`.
Result<std::string> random_id();

/// A SHA-256 digest: what muster keeps of every secret, 32 bytes in memory
/// (its lowercase hex form in events).
using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(std::string_view text);

/// Lowercase hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

/// 64 lowercase hex digits.
std::string to_hex(const Sha256& digest);
/// The digest written as 64 hex digits (either case); nullopt for anything else.
std::optional<Sha256> sha256_from_hex(std::string_view hex);

/// True if equal; the time taken depends only on the lengths.
bool constant_time_equal(std::string_view left, std::string_view right);
bool constant_time_equal(const Sha256& left, const Sha256& right);

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
