#pragma once
// Agent reports for the agent suites (agent_fold, agent_service).

#include <string>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_events.hpp"

namespace muster::testing {

/// A report of `type` the agent observed at `time_ms`, with no details.
inline AgentReported report_of(const std::string& type, TimeMs time_ms) {
  return AgentReported{type, time_ms, nlohmann::json::object()};
}

}  // namespace muster::testing
