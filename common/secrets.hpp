#pragma once
/// Secrets: random tokens, their SHA-256 digests, and comparison in constant
/// time. muster stores only digests; a plaintext secret exists in the answer
/// that issues it and nowhere else (no log line, no event, no error).

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

}  // namespace muster
