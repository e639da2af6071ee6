#include "eventstore/event_codec.hpp"

#include <limits>

#include "common/bytes.hpp"

namespace muster::event_codec {
namespace {

Error corrupt_event(std::string_view what) {
  return make_error(ErrorCode::corruption, "cannot decode event: " + std::string(what));
}

}  // namespace

std::string encode_event(const Event& event) {
  std::string out;
  out.reserve(32 + event.stream.size() + event.type.size() + event.data.size() + event.meta.size());
  out.push_back(static_cast<char>(kEventFormat));
  bytes::put_varint(out, event.position);
  bytes::put_string(out, event.stream);
  bytes::put_varint(out, event.version);
  bytes::put_string(out, event.type);
  bytes::put_signed(out, event.time_ms);
  bytes::put_varint(out, event.schema_version);
  bytes::put_string(out, event.data);
  bytes::put_string(out, event.meta);
  return out;
}

Result<EventView> decode_event_view(std::string_view bytes) {
  bytes::Reader reader(bytes);
  auto format = reader.read_byte();
  if (!format) return corrupt_event("empty value");
  if (*format != kEventFormat) {
    return corrupt_event("unknown format " + std::to_string(*format));
  }
  auto position = reader.read_varint();
  auto stream = reader.read_string();
  auto version = reader.read_varint();
  auto type = reader.read_string();
  auto time = reader.read_signed();
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
  event.time_ms = *time;
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
