#pragma once
/// The unit of history. Every change is an `Event` in the log; state is a
/// fold over events.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace muster {

/// An event as the caller proposes it; the store assigns position, version and time.
struct NewEvent {
  std::string type;                  ///< e.g. "AgentRegistered".
  std::string data;                  ///< JSON object text: the payload.
  std::string meta;                  ///< JSON object text: what caused it (request id, principal).
  std::uint32_t schema_version = 1;  ///< Version of `data`'s shape for this `type`.
};

/// An event as stored.
struct Event {
  std::uint64_t position = 0;  ///< Global position in the log: contiguous from 1.
  std::string stream;          ///< Stream id, "<kind>:<id>" (agents of old data dirs: a bare UUID).
  std::uint64_t version = 0;   ///< Version within `stream`: contiguous from 1.
  std::string type;
  TimeMs time_ms = 0;  ///< When the store accepted it (UTC, ms).
  std::uint32_t schema_version = 1;
  std::string data;  ///< JSON object text.
  std::string meta;  ///< JSON object text.
};

inline bool operator==(const Event& left, const Event& right) {
  return left.position == right.position && left.stream == right.stream && left.version == right.version &&
         left.type == right.type && left.time_ms == right.time_ms &&
         left.schema_version == right.schema_version && left.data == right.data && left.meta == right.meta;
}

/// An event read in place: the strings point into the store's buffers and
/// live only as long as the call that hands the view out.
struct EventView {
  std::uint64_t position = 0;
  std::string_view stream;
  std::uint64_t version = 0;
  std::string_view type;
  TimeMs time_ms = 0;
  std::uint32_t schema_version = 1;
  std::string_view data;
  std::string_view meta;

  /// An owning copy.
  Event to_event() const {
    return Event{position,     std::string(stream), version,           std::string(type),
                 time_ms,      schema_version,      std::string(data), std::string(meta)};
  }
};

/// A view of `event`, valid while it lives.
inline EventView view_of(const Event& event) {
  return EventView{event.position,       event.stream, event.version,   event.type,
                   event.time_ms,        event.schema_version, event.data, event.meta};
}

}  // namespace muster
