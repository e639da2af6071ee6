#pragma once
/// An agent's state in bytes, for snapshots: a million agents' states are
/// read at every start, so they are compact binary rather than JSON.

#include <string>
#include <string_view>

#include "actors/agent/agent_state.hpp"
#include "common/result.hpp"

namespace muster {

/// The leading byte of an encoded state; bumped when the layout changes.
/// Format 2 appends the change window (`change_window_start_ms`,
/// `changes_in_window`) to format 1, which still reads, with an empty window.
/// A format-1 state of an agent deregistered or decommissioned before then
/// also lacks the digests it now keeps (older muster cleared them), so its
/// old token answers 401 as it did, not AGENT_NOT_REGISTERED. Format 3
/// appends the offline reason; formats 1 and 2 read as a heartbeat timeout,
/// the only reason there was. A format this muster does not know reads as
/// damaged, and start-up folds the log instead.
inline constexpr std::uint8_t kAgentStateFormat = 3;

/// Encodes in `kAgentStateFormat`.
std::string encode_agent_state(const AgentState& state);

/// Reads formats 1 to 3. Total on any input: damaged bytes give `corruption`,
/// never a crash.
Result<AgentState> decode_agent_state(std::string_view bytes);

}  // namespace muster
