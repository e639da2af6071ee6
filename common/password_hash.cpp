#include "common/password_hash.hpp"

#include <argon2.h>
#include <openssl/rand.h>

#include <array>
#include <vector>

namespace muster {
namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

}  // namespace

Result<std::string> hash_password(std::string_view password, const PasswordHashCost& cost) {
  std::array<unsigned char, kSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return make_error(ErrorCode::internal, "no randomness for a password's salt");
  }
  const std::size_t length =
      argon2_encodedlen(cost.iterations, cost.memory_kib, cost.lanes, kSaltBytes, kHashBytes, Argon2_id);
  std::vector<char> encoded(length);
  const int status =
      argon2id_hash_encoded(cost.iterations, cost.memory_kib, cost.lanes, password.data(), password.size(),
                            salt.data(), salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (status != ARGON2_OK) {
    return make_error(ErrorCode::internal,
                      std::string("cannot hash a password: ") + argon2_error_message(status));
  }
  return std::string(encoded.data());
}

bool verify_password(std::string_view encoded, std::string_view password) {
  // libargon2 reads a C string: one with a NUL inside is not a hash it wrote.
  if (encoded.find('\0') != std::string_view::npos || encoded.substr(0, 10) != "$argon2id$") return false;
  const std::string text(encoded);
  return argon2id_verify(text.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace muster
