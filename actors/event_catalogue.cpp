#include "actors/event_catalogue.hpp"

#include "actors/agent/agent_events.hpp"
#include "actors/alert/alert_rule_state.hpp"
#include "actors/alert/alert_state.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/bulk/bulk_state.hpp"
#include "actors/command/command_state.hpp"
#include "actors/config/config_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/group/group_state.hpp"
#include "actors/notification/channel_state.hpp"
#include "actors/notification/maintenance_window_state.hpp"
#include "actors/notification/notification_state.hpp"
#include "actors/rollout/rollout_state.hpp"
#include "actors/user/user_state.hpp"

namespace muster {
namespace {

template <class... Variants>
struct EventLists {};

/// Every aggregate's event variant.
using AllEvents = EventLists<AgentEvent, ApiKeyEvent, EnrollmentEvent, ConfigEvent, GroupEvent, BulkJobEvent,
                             RolloutEvent, CommandEvent, AlertRuleEvent, AlertEvent, NotificationChannelEvent,
                             MaintenanceWindowEvent, NotificationEvent, UserEvent>;

template <class Variant, std::size_t... Index>
void add_types(std::vector<EventType>& types, std::index_sequence<Index...>) {
  (types.push_back(std::variant_alternative_t<Index, Variant>::kType), ...);
}

template <class... Variants>
std::vector<EventType> collect(EventLists<Variants...>) {
  std::vector<EventType> types;
  (add_types<Variants>(types, std::make_index_sequence<std::variant_size_v<Variants>>{}), ...);
  return types;
}

}  // namespace

const std::vector<EventType>& event_catalogue() {
  static const std::vector<EventType> types = collect(AllEvents{});
  return types;
}

const EventType* find_event_type(std::string_view name) {
  for (const EventType& type : event_catalogue()) {
    if (type.name == name) return &type;
  }
  return nullptr;
}

}  // namespace muster
