#include "actors/agent/agent_health.hpp"

#include <algorithm>

namespace muster {

AgentHealth assess_health(const AgentState& state, TimeMs last_seen_ms, TimeMs now_ms,
                          const HealthThresholds& thresholds) {
  AgentHealth health;
  health.silent_ms = std::max<TimeMs>(0, now_ms - last_seen_ms);
  if (!is_live(state.status)) return health;
  if (health.silent_ms <= thresholds.healthy_within_ms) {
    health.health = "healthy", health.score = 100;
  } else if (health.silent_ms <= thresholds.warning_within_ms) {
    health.health = "warning", health.score = 50;
  } else {
    health.health = "unhealthy", health.score = 20;
  }
  health.uptime_ms = std::max<TimeMs>(0, now_ms - state.online_since_ms);
  return health;
}

}  // namespace muster
