#include "common/bytes.hpp"

namespace muster::bytes {
namespace {

constexpr int kMaxVarintBytes = 10;

}  // namespace

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_signed(std::string& out, std::int64_t value) {
  put_varint(out, (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63));
}

void put_string(std::string& out, std::string_view text) {
  put_varint(out, text.size());
  out.append(text);
}

bool is_valid_utf8(std::string_view text) {
  std::size_t index = 0;
  while (index < text.size()) {
    const auto lead = static_cast<unsigned char>(text[index]);
    if (lead < 0x80) {
      ++index;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    if ((lead & 0xe0) == 0xc0) {
      length = 2, code_point = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, code_point = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, code_point = lead & 0x07;
    } else {
      return false;
    }
    if (index + length > text.size()) return false;
    for (std::size_t offset = 1; offset < length; ++offset) {
      const auto next = static_cast<unsigned char>(text[index + offset]);
      if ((next & 0xc0) != 0x80) return false;
      code_point = code_point << 6 | (next & 0x3f);
    }
    static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[length] || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff)) {
      return false;
    }
    index += length;
  }
  return true;
}

std::optional<std::uint8_t> Reader::read_byte() {
  if (remaining_.empty()) return std::nullopt;
  auto byte = static_cast<std::uint8_t>(remaining_.front());
  remaining_.remove_prefix(1);
  return byte;
}

std::optional<std::uint64_t> Reader::read_varint() {
  std::uint64_t value = 0;
  for (int byte_idx = 0; byte_idx < kMaxVarintBytes; ++byte_idx) {
    auto byte = read_byte();
    if (!byte) return std::nullopt;
    // The tenth byte holds only the top bit of a 64-bit value.
    if (byte_idx == kMaxVarintBytes - 1 && *byte > 1) return std::nullopt;
    value |= static_cast<std::uint64_t>(*byte & 0x7f) << (7 * byte_idx);
    if ((*byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

std::optional<std::int64_t> Reader::read_signed() {
  const auto value = read_varint();
  if (!value) return std::nullopt;
  return static_cast<std::int64_t>((*value >> 1) ^ (~(*value & 1) + 1));
}

std::optional<std::string_view> Reader::read_string() {
  auto length = read_varint();
  if (!length) return std::nullopt;
  return read_raw(*length);
}

std::optional<std::string_view> Reader::read_raw(std::size_t count) {
  if (count > remaining_.size()) return std::nullopt;
  std::string_view taken = remaining_.substr(0, count);
  remaining_.remove_prefix(count);
  return taken;
}

}  // namespace muster::bytes
