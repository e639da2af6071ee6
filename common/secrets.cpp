#include "common/secrets.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <vector>

#include <fmt/format.h>

namespace muster {
namespace {

constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(const unsigned char* bytes, std::size_t count) {
  std::string text;
  unsigned bits = 0;
  int bit_count = 0;
  for (std::size_t index = 0; index < count; ++index) {
    bits = (bits << 8) | bytes[index];
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      text += kBase64UrlAlphabet[(bits >> bit_count) & 0x3f];
    }
  }
  if (bit_count > 0) text += kBase64UrlAlphabet[(bits << (6 - bit_count)) & 0x3f];
  return text;
}

}  // namespace

Result<std::string> random_token(std::size_t byte_count) {
  std::vector<unsigned char> bytes(byte_count);
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return make_error(ErrorCode::internal, "no randomness available for a secret");
  }
  return base64url(bytes.data(), bytes.size());
}

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int index = 0; index < length; ++index) hex += fmt::format("{:02x}", digest[index]);
  return hex;
}

bool constant_time_equal(std::string_view left, std::string_view right) {
  return left.size() == right.size() && CRYPTO_memcmp(left.data(), right.data(), left.size()) == 0;
}

}  // namespace muster
