#include "app/terminal_text.hpp"

#include <cstdint>
#include <utility>

namespace muster::app {
namespace {

bool must_escape(std::uint32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7f && code_point <= 0x9f) || code_point == 0x2028 ||
         code_point == 0x2029 || code_point == 0x061c || code_point == 0x200e || code_point == 0x200f ||
         (code_point >= 0x202a && code_point <= 0x202e) || (code_point >= 0x2066 && code_point <= 0x2069);
}

// The code point of the valid UTF-8 sequence at the start of `text` and its
// length; length 0 if the bytes there are not valid UTF-8 (truncated,
// overlong, a surrogate, beyond U+10FFFF, a stray continuation byte).
std::pair<std::uint32_t, std::size_t> decode_utf8(std::string_view text) {
  const auto byte = [&](std::size_t index) { return static_cast<unsigned char>(text[index]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  // Per lead byte: the sequence's length, the payload bits of the lead, and
  // the smallest code point that needs that length (anything less is overlong).
  std::size_t length = 0;
  std::uint32_t code_point = 0;
  std::uint32_t minimum = 0;
  if ((lead & 0xe0) == 0xc0) {
    length = 2;
    code_point = lead & 0x1fu;
    minimum = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    code_point = lead & 0x0fu;
    minimum = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    code_point = lead & 0x07u;
    minimum = 0x10000;
  } else {
    return {0, 0};
  }
  if (text.size() < length) return {0, 0};
  for (std::size_t index = 1; index < length; ++index) {
    if ((byte(index) & 0xc0) != 0x80) return {0, 0};
    code_point = (code_point << 6) | (byte(index) & 0x3fu);
  }
  if (code_point < minimum || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff)) {
    return {0, 0};
  }
  return {code_point, length};
}

std::string make_safe(std::string_view text, bool double_backslashes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const auto [code_point, length] = decode_utf8(text);
    if (length == 0) {
      const auto byte = static_cast<unsigned char>(text.front());
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
      text.remove_prefix(1);
      continue;
    }
    if (must_escape(code_point)) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(code_point >> shift) & 0xf];
    } else if (double_backslashes && code_point == '\\') {
      out += "\\\\";
    } else {
      out.append(text.data(), length);
    }
    text.remove_prefix(length);
  }
  return out;
}

}  // namespace

std::string terminal_safe_json(std::string_view json_text) {
  return make_safe(json_text, false);
}

std::string terminal_safe_text(std::string_view text) {
  return make_safe(text, true);
}

}  // namespace muster::app
