#pragma once
/// Every event type muster writes, in one place: its name, the kind of
/// stream it belongs to, and the schema version written now. Each type's
/// payload and codec (upcasting older schema versions included) sits with
/// its aggregate; this list is how the API checks `?type=`, how a test makes
/// sure every type has a codec, and how a newcomer finds them all.
///
///   agent       AgentRegistered, AgentTokenIssued (v2), AgentUpdated,
///               AgentStatusChanged, AgentWentOffline (v2), AgentCameOnline,
///               AgentDeregistered, AgentDecommissioned, AgentAssignmentSet,
///               AgentConfigReported, AgentEffectiveConfigReported, AgentReported
///                                                         (actors/agent/agent_events.hpp)
///   apikey      ApiKeyCreated, ApiKeyRevoked             (actors/api_key/api_key_state.hpp)
///   enrollment  EnrollmentTokenCreated, EnrollmentTokenUsed, EnrollmentTokenRevoked
///                                                         (actors/enrollment/enrollment_token_state.hpp)
///   config      ConfigCreated, ConfigVersionAdded, ConfigDeleted (actors/config/config_state.hpp)
///   group       GroupCreated, GroupUpdated, GroupMembersAdded, GroupMembersRemoved,
///               GroupAssignmentSet, GroupDeleted         (actors/group/group_state.hpp)
///   bulk        BulkJobCreated, BulkJobProgressed, BulkJobFinished (actors/bulk/bulk_state.hpp)
///   rollout     RolloutCreated, RolloutStageStarted, RolloutStageBaking, RolloutStageFinished,
///               RolloutPaused, RolloutResumed, RolloutAborted, RolloutRolledBack,
///               RolloutCompleted                         (actors/rollout/rollout_state.hpp)
///   command     CommandQueued, CommandDelivered, CommandAcknowledged, CommandCompleted,
///               CommandExpired, CommandCancelled         (actors/command/command_state.hpp)
///   alert-rule  AlertRuleCreated, AlertRuleUpdated, AlertRuleDeleted
///                                                         (actors/alert/alert_rule_state.hpp)
///   alert       AlertFired, AlertResolved, AlertAcknowledged, AlertSilenced
///                                                         (actors/alert/alert_state.hpp)
///   notification-channel  NotificationChannelCreated, NotificationChannelDeleted
///                                                         (actors/notification/channel_state.hpp)
///   maintenance-window    MaintenanceWindowCreated, MaintenanceWindowDeleted
///                                                         (actors/notification/maintenance_window_state.hpp)
///   notification  NotificationQueued, NotificationAttempted, NotificationDelivered,
///               NotificationAbandoned                    (actors/notification/notification_state.hpp)
///
/// Adding an aggregate adds its event variant to `AllEvents` in event_catalogue.cpp.

#include <string_view>
#include <vector>

#include "actors/runtime/payload_codec.hpp"

namespace muster {

/// Every event type, grouped by aggregate, in declaration order.
const std::vector<EventType>& event_catalogue();

/// The catalogue entry named `name`; null if there is none.
const EventType* find_event_type(std::string_view name);

}  // namespace muster
