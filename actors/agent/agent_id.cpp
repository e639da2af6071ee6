#include "actors/agent/agent_id.hpp"

#include <random>

namespace muster {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
// Where each byte's two digits start in the canonical text.
constexpr std::array<std::size_t, 16> kDigitOffsets = {0,  2,  4,  6,  9,  11, 14, 16,
                                                       19, 21, 24, 26, 28, 30, 32, 34};
constexpr std::size_t kTextLength = 36;

int lower_hex_value(char digit) {
  if (digit >= '0' && digit <= '9') return digit - '0';
  if (digit >= 'a' && digit <= 'f') return digit - 'a' + 10;
  return -1;
}

}  // namespace

AgentId AgentId::random() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  AgentId id;
  for (std::size_t half = 0; half < 2; ++half) {
    std::uint64_t bits = generator();
    for (std::size_t index = 0; index < 8; ++index, bits >>= 8) {
      id.bytes_[half * 8 + index] = static_cast<std::uint8_t>(bits);
    }
  }
  id.bytes_[6] = static_cast<std::uint8_t>((id.bytes_[6] & 0x0f) | 0x40);  // version 4
  id.bytes_[8] = static_cast<std::uint8_t>((id.bytes_[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

std::optional<AgentId> AgentId::parse(std::string_view text) {
  if (text.size() != kTextLength || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') {
    return std::nullopt;
  }
  AgentId id;
  for (std::size_t index = 0; index < kDigitOffsets.size(); ++index) {
    const int high = lower_hex_value(text[kDigitOffsets[index]]);
    const int low = lower_hex_value(text[kDigitOffsets[index] + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    id.bytes_[index] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return id;
}

std::string AgentId::to_string() const {
  std::string text(kTextLength, '-');
  for (std::size_t index = 0; index < kDigitOffsets.size(); ++index) {
    text[kDigitOffsets[index]] = kHexDigits[bytes_[index] >> 4];
    text[kDigitOffsets[index] + 1] = kHexDigits[bytes_[index] & 0xf];
  }
  return text;
}

}  // namespace muster
