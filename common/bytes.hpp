#pragma once
/// Compact binary encoding for what muster keeps on disk besides JSON: the
/// stored form of events and the snapshots of folded state. Varints are
/// unsigned LEB128 (at most 10 bytes); signed values are zigzag-encoded;
/// strings are a varint length and the bytes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace muster::bytes {

void put_varint(std::string& out, std::uint64_t value);
/// Zigzag: small negative values (times before 1970) stay as short as small positive ones.
void put_signed(std::string& out, std::int64_t value);
void put_string(std::string& out, std::string_view text);

/// True if `text` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing past U+10FFFF): text read back from bytes must be before it can
/// become JSON.
bool is_valid_utf8(std::string_view text);

/// Reads fields front to back; every read checks the bytes left first, so
/// any input, however damaged, gives nullopt rather than an out-of-bounds read.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : remaining_(bytes) {}

  [[nodiscard]] std::optional<std::uint8_t> read_byte();
  [[nodiscard]] std::optional<std::uint64_t> read_varint();
  [[nodiscard]] std::optional<std::int64_t> read_signed();
  /// The string's bytes within the input (no copy).
  [[nodiscard]] std::optional<std::string_view> read_string();
  /// `count` raw bytes within the input.
  [[nodiscard]] std::optional<std::string_view> read_raw(std::size_t count);

  bool at_end() const { return remaining_.empty(); }

 private:
  std::string_view remaining_;
};

}  // namespace muster::bytes
