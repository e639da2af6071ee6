#pragma once
/// Internal to eventstore/: the bytes the RocksDB backend stores for an event
/// and the keys it stores them under. Only eventstore/*.cpp and its tests
/// include this header.
///
/// Event value, format 1:
///   u8 format (= 1)
///   varint position, string stream, varint version, string type,
///   zigzag varint time_ms, varint schema_version, string data, string meta
/// where a string is a varint byte length followed by the bytes and a varint
/// is unsigned LEB128 (at most 10 bytes).
///
/// Keys are big-endian so that RocksDB's bytewise order is numeric order.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster::event_codec {

/// The leading byte of every encoded event; bumped when the layout changes.
inline constexpr std::uint8_t kEventFormat = 1;

/// Encodes `event` as format 1.
[[nodiscard]] std::string encode_event(const Event& event);

/// Decodes bytes written by `encode_event`. Total on arbitrary input: any
/// truncation, unknown format, out-of-range field or trailing byte gives
/// `corruption`, never a crash or an out-of-bounds read.
[[nodiscard]] Result<Event> decode_event(std::string_view bytes);

/// Decodes like `decode_event`, in place: the view's strings point into
/// `bytes` (valid as long as they are), so decoding allocates nothing.
[[nodiscard]] Result<EventView> decode_event_view(std::string_view bytes);

/// `value` as 8 big-endian bytes.
[[nodiscard]] std::string encode_u64_be(std::uint64_t value);

/// The value of exactly 8 big-endian bytes; nullopt for any other length.
[[nodiscard]] std::optional<std::uint64_t> decode_u64_be(std::string_view bytes);

/// Key of the `streams` column family: `stream` + '\0' + 8-byte big-endian
/// `version`. Stream ids never contain '\0' (the store refuses them), so a
/// stream's keys are exactly those starting with `stream_key_prefix(stream)`.
[[nodiscard]] std::string stream_version_key(std::string_view stream, std::uint64_t version);

/// `stream` + '\0': the common prefix of all `stream_version_key`s of `stream`.
[[nodiscard]] std::string stream_key_prefix(std::string_view stream);

/// Key of an entry in the `snapshots` column family: 'e' + `scope` + '\0' +
/// `key`. Scopes never contain '\0' (the store refuses them), so a scope's
/// entries are exactly the keys in [snapshot_entries_begin(scope),
/// snapshot_entries_end(scope)): one contiguous range.
[[nodiscard]] std::string snapshot_entry_key(std::string_view scope, std::string_view key);

/// 'e' + `scope` + '\0': the first key of `scope`'s entries, and their common prefix.
[[nodiscard]] std::string snapshot_entries_begin(std::string_view scope);

/// 'e' + `scope` + '\1': past every key of `scope`'s entries.
[[nodiscard]] std::string snapshot_entries_end(std::string_view scope);

/// Key of `scope`'s position (8 big-endian bytes) in the `snapshots` column
/// family: 'p' + `scope`, outside every range of entries.
[[nodiscard]] std::string snapshot_position_key(std::string_view scope);

}  // namespace muster::event_codec
