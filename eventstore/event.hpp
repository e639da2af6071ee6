#pragma once
/// The unit of history. Every change to an agent is an `Event` in the log;
/// state is a fold over events.

#include <cstdint>
#include <string>

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
  std::string stream;          ///< Stream id: the agent id.
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

}  // namespace muster
