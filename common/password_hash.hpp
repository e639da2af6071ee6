#pragma once
/// Passwords, kept only as Argon2id hashes in the PHC string form
/// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", libargon2). Each hash
/// carries its own cost and salt, so raising the cost later leaves every
/// stored hash verifiable. A plaintext password exists only in the request
/// that carries it: never in a log line, an event or an answer.
///
/// Both functions are pure and thread-safe; each costs `memory_kib` of
/// memory and tens of milliseconds of one core, so callers run them off
/// the threads that serve requests (actors/user/user_service.hpp).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace muster {

/// OWASP's Argon2id minimum (2024): 19 MiB, two passes, one lane.
struct PasswordHashCost {
  std::uint32_t memory_kib = 19 * 1024;
  std::uint32_t iterations = 2;
  std::uint32_t lanes = 1;
};

/// Bounds on a password's length in bytes: long enough to resist guessing
/// offline, short enough that hashing it costs what the cost says.
inline constexpr std::size_t kMinPasswordBytes = 12;
inline constexpr std::size_t kMaxPasswordBytes = 1024;

/// A fresh salt and the hash of `password`, in PHC form. Errors: `internal`
/// (no randomness, or libargon2 refused the cost).
Result<std::string> hash_password(std::string_view password, const PasswordHashCost& cost = {});

/// True if `password` matches `encoded`; false for a wrong password and for
/// an `encoded` that is not an Argon2id PHC string.
bool verify_password(std::string_view encoded, std::string_view password);

}  // namespace muster
