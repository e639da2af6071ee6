#pragma once
/// How typed event payloads become stored events and back.
///
/// Every event type is a struct with its catalogue entry and a JSON codec:
///
///   struct AgentDeregistered {
///     static constexpr EventType kType{"AgentDeregistered", kAgentKind, 1};
///     nlohmann::json to_json() const;
///     static Result<AgentDeregistered> from_json(const nlohmann::json& data, std::uint32_t schema_version);
///   };
///
/// `from_json` reads every schema version up to `kType.schema_version`:
/// upcasting an older payload happens there, once, so folds only ever see
/// the current shape. An aggregate's events are a `std::variant` of such
/// structs; `decode_payload` parses the stored JSON once into the variant,
/// and `encode_payload` writes it (the stored `data` stays JSON, for audit
/// and replay). The list of every type is actors/event_catalogue.hpp.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

/// A catalogue entry: an event type's name, the kind of stream it belongs
/// to, and the schema version muster writes now.
struct EventType {
  std::string_view name;
  std::string_view stream_kind;
  std::uint32_t schema_version = 1;
};

/// An event without its payload: what a fold needs to know besides it.
struct EventHeader {
  std::uint64_t position = 0;
  std::string_view stream;
  std::uint64_t version = 0;
  TimeMs time_ms = 0;
};

inline EventHeader header_of(const Event& event) {
  return EventHeader{event.position, event.stream, event.version, event.time_ms};
}

/// The `corruption` error of a payload that cannot be read.
inline Error payload_error(std::string_view why) {
  return make_error(ErrorCode::corruption, std::string(why));
}

/// The `corruption` error of an event a fold refuses: which event, and why.
inline Error corrupt_event(const EventHeader& header, std::string_view type, std::string_view why) {
  return make_error(ErrorCode::corruption,
                    fmt::format("event at position {} ({} of '{}'): {}", header.position, type, header.stream, why));
}

namespace payload_codec_internal {

template <class Variant, std::size_t Index = 0>
Result<Variant> decode_as(std::string_view type, std::uint32_t schema_version, const nlohmann::json& data) {
  if constexpr (Index == std::variant_size_v<Variant>) {
    return payload_error(fmt::format("unknown event type '{}' (written by a newer muster?)", type));
  } else {
    using Payload = std::variant_alternative_t<Index, Variant>;
    if (type != Payload::kType.name) return decode_as<Variant, Index + 1>(type, schema_version, data);
    if (schema_version == 0 || schema_version > Payload::kType.schema_version) {
      return payload_error(fmt::format("{} schema version {} is not one this muster reads (up to {})", type,
                                       schema_version, Payload::kType.schema_version));
    }
    auto payload = Payload::from_json(data, schema_version);
    if (!payload) return payload.error();
    return Variant(std::move(*payload));
  }
}

}  // namespace payload_codec_internal

/// The typed payload of a stored event of one of `Variant`'s types. Total:
/// malformed JSON, an unknown type, a newer schema or a bad member give
/// `corruption`, never an exception.
template <class Variant>
Result<Variant> decode_payload(std::string_view type, std::uint32_t schema_version, std::string_view data) {
  const auto json = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return payload_error("payload is not a JSON object");
  return payload_codec_internal::decode_as<Variant>(type, schema_version, json);
}

/// Folds a stored event into `state`: decodes its payload as one of
/// `Variant`'s types, then calls the aggregate's
/// `apply(State&, const Variant&, const EventHeader&)`. An event that cannot
/// be decoded is `corruption`, naming it.
template <class Variant, class State>
Status apply_stored(State& state, const Event& event) {
  auto payload = decode_payload<Variant>(event.type, event.schema_version, event.data);
  if (!payload) return corrupt_event(header_of(event), event.type, payload.error().message);
  return apply(state, *payload, header_of(event));
}

/// The event to append for `payload` (its meta is the runtime's to fill).
template <class Variant>
NewEvent encode_payload(const Variant& payload) {
  return std::visit(
      [](const auto& typed) {
        using Payload = std::decay_t<decltype(typed)>;
        NewEvent event;
        event.type = std::string(Payload::kType.name);
        // Payloads hold only text muster validated: never let dump() throw.
        event.data = typed.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        event.schema_version = Payload::kType.schema_version;
        return event;
      },
      payload);
}

/// The catalogue entry of `payload`'s type.
template <class Variant>
const EventType& type_of(const Variant& payload) {
  return std::visit([](const auto& typed) -> const EventType& { return std::decay_t<decltype(typed)>::kType; },
                    payload);
}

/// Readers of payload members that never throw. A reader returns false when
/// the member is present with the wrong type, or absent and `required`;
/// otherwise it stores the value (an absent optional member leaves `out` as it is).
namespace payload {

enum class Presence { required, optional };

bool read(const nlohmann::json& data, const char* key, std::string& out,
          Presence presence = Presence::required);
bool read(const nlohmann::json& data, const char* key, std::vector<std::string>& out,
          Presence presence = Presence::required);
bool read(const nlohmann::json& data, const char* key, std::map<std::string, std::string>& out,
          Presence presence = Presence::required);
/// A non-negative integer (never a float: out-of-range floats convert with undefined behaviour).
bool read(const nlohmann::json& data, const char* key, std::uint64_t& out,
          Presence presence = Presence::required);
/// Any integer (times in milliseconds).
bool read(const nlohmann::json& data, const char* key, std::int64_t& out,
          Presence presence = Presence::required);
/// Optional members: nullopt when absent.
bool read(const nlohmann::json& data, const char* key, std::optional<std::string>& out);
bool read(const nlohmann::json& data, const char* key, std::optional<std::uint64_t>& out);
bool read(const nlohmann::json& data, const char* key, std::optional<std::int64_t>& out);

}  // namespace payload

}  // namespace muster
