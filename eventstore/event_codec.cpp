#include "eventstore/event_codec.hpp"

#include <limits>

namespace muster::event_codec {
namespace {

constexpr int kMaxVarintBytes = 10;

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_string(std::string& out, std::string_view text) {
  put_varint(out, text.size());
  out.append(text);
}

// Zigzag keeps small negative times (before 1970) as short as small positive ones.
std::uint64_t zigzag_encode(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}

std::int64_t zigzag_decode(std::uint64_t value) {
  return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

/// Reads fields front to back; every read checks the bytes left first.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : remaining_(bytes) {}

  [[nodiscard]] std::optional<std::uint8_t> read_byte() {
    if (remaining_.empty()) return std::nullopt;
    auto byte = static_cast<std::uint8_t>(remaining_.front());
    remaining_.remove_prefix(1);
    return byte;
  }

  [[nodiscard]] std::optional<std::uint64_t> read_varint() {
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

  /// The string's bytes within the input (no copy).
  [[nodiscard]] std::optional<std::string_view> read_string() {
    auto length = read_varint();
    if (!length || *length > remaining_.size()) return std::nullopt;
    std::string_view text = remaining_.substr(0, *length);
    remaining_.remove_prefix(*length);
    return text;
  }

  bool at_end() const { return remaining_.empty(); }

 private:
  std::string_view remaining_;
};

Error corrupt_event(std::string_view what) {
  return make_error(ErrorCode::corruption, "cannot decode event: " + std::string(what));
}

}  // namespace

std::string encode_event(const Event& event) {
  std::string out;
  out.reserve(32 + event.stream.size() + event.type.size() + event.data.size() + event.meta.size());
  out.push_back(static_cast<char>(kEventFormat));
  put_varint(out, event.position);
  put_string(out, event.stream);
  put_varint(out, event.version);
  put_string(out, event.type);
  put_varint(out, zigzag_encode(event.time_ms));
  put_varint(out, event.schema_version);
  put_string(out, event.data);
  put_string(out, event.meta);
  return out;
}

Result<EventView> decode_event_view(std::string_view bytes) {
  ByteReader reader(bytes);
  auto format = reader.read_byte();
  if (!format) return corrupt_event("empty value");
  if (*format != kEventFormat) {
    return corrupt_event("unknown format " + std::to_string(*format));
  }
  auto position = reader.read_varint();
  auto stream = reader.read_string();
  auto version = reader.read_varint();
  auto type = reader.read_string();
  auto time = reader.read_varint();
  auto schema_version = reader.read_varint();
  auto data = reader.read_string();
  auto meta = reader.read_string();
  // Every read checks its bounds, so reading on past a failed field is harmless.
  if (!position || !stream || !version || !type || !time || !schema_version || !data || !meta) {
    return corrupt_event("truncated or malformed field");
  }
  if (*schema_version > std::numeric_limits<std::uint32_t>::max()) {
    return corrupt_event("schema_version out of range");
  }
  if (!reader.at_end()) return corrupt_event("trailing bytes");

  EventView event;
  event.position = *position;
  event.stream = *stream;
  event.version = *version;
  event.type = *type;
  event.time_ms = zigzag_decode(*time);
  event.schema_version = static_cast<std::uint32_t>(*schema_version);
  event.data = *data;
  event.meta = *meta;
  return event;
}

Result<Event> decode_event(std::string_view bytes) {
  auto view = decode_event_view(bytes);
  if (!view) return view.error();
  return view->to_event();
}

std::string encode_u64_be(std::uint64_t value) {
  std::string out(8, '\0');
  for (int byte_idx = 7; byte_idx >= 0; --byte_idx) {
    out[byte_idx] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::optional<std::uint64_t> decode_u64_be(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  std::uint64_t value = 0;
  for (char byte : bytes) value = (value << 8) | static_cast<std::uint8_t>(byte);
  return value;
}

std::string stream_version_key(std::string_view stream, std::uint64_t version) {
  return stream_key_prefix(stream) + encode_u64_be(version);
}

std::string stream_key_prefix(std::string_view stream) {
  std::string prefix(stream);
  prefix.push_back('\0');
  return prefix;
}

std::string snapshot_entry_key(std::string_view scope, std::string_view key) {
  return snapshot_entries_begin(scope).append(key);
}

std::string snapshot_entries_begin(std::string_view scope) {
  std::string begin = "e";
  begin.append(scope).push_back('\0');
  return begin;
}

std::string snapshot_entries_end(std::string_view scope) {
  std::string end = "e";
  end.append(scope).push_back('\1');
  return end;
}

std::string snapshot_position_key(std::string_view scope) {
  return std::string("p").append(scope);
}

}  // namespace muster::event_codec
