#pragma once
/// How healthy an agent is, by how long it has been silent: the `health`
/// block of GET /api/v1/agents/{id}. A rule of the domain, kept out of the
/// HTTP layer so every front end scores the same.

#include "actors/agent/agent_state.hpp"
#include "common/clock.hpp"

namespace muster {

/// When an agent counts as healthy, warning or unhealthy by silence.
struct HealthThresholds {
  /// Seen within this long: healthy (score 100). Default: 60 s.
  TimeMs healthy_within_ms = 60'000;
  /// Seen within this long: warning (50); beyond: unhealthy (20). Default: 300 s.
  TimeMs warning_within_ms = 300'000;
};

struct AgentHealth {
  const char* health = "offline";  ///< healthy, warning, unhealthy, or offline when not live.
  int score = 0;
  TimeMs silent_ms = 0;  ///< Since last heard from.
  TimeMs uptime_ms = 0;  ///< Since it last came online (0 when not live).
};

AgentHealth assess_health(const AgentState& state, TimeMs last_seen_ms, TimeMs now_ms,
                          const HealthThresholds& thresholds);

}  // namespace muster
