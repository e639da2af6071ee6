#include "common/base64url.hpp"

namespace muster {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string text;
  unsigned bits = 0;
  int bit_count = 0;
  for (unsigned char byte : bytes) {
    bits = (bits << 8) | byte;
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      text += kAlphabet[(bits >> bit_count) & 0x3f];
    }
  }
  if (bit_count > 0) text += kAlphabet[(bits << (6 - bit_count)) & 0x3f];
  return text;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string bytes;
  unsigned bits = 0;
  int bit_count = 0;
  for (char c : text) {
    const auto index = kAlphabet.find(c);
    if (index == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<unsigned>(index);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      bytes += static_cast<char>((bits >> bit_count) & 0xff);
    }
  }
  return bytes;
}

}  // namespace muster
