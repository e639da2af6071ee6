#pragma once
/// An agent's state in bytes, for snapshots: a million agents' states are
/// read at every start, so they are compact binary rather than JSON.

#include <string>
#include <string_view>

#include "actors/agent/agent_state.hpp"
#include "common/result.hpp"

namespace muster {

/// The leading byte of an encoded state; bumped when the layout changes (an
/// older snapshot then reads as unknown, and start-up folds the log instead).
inline constexpr std::uint8_t kAgentStateFormat = 1;

std::string encode_agent_state(const AgentState& state);

/// Total on any input: damaged bytes give `corruption`, never a crash.
Result<AgentState> decode_agent_state(std::string_view bytes);

}  // namespace muster
