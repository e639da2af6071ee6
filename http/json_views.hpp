#pragma once
/// How muster's values look in JSON: events (the API's /events and
/// `muster replay`), agents with their health, fleet statistics, errors.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_health.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/bulk/bulk_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/group/group_state.hpp"
#include "actors/notification/notification_state.hpp"
#include "actors/user/user_state.hpp"
#include "common/clock.hpp"
#include "eventstore/event.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"

namespace muster::http {

/// {position, stream, version, type, time, schema_version, data, meta}; `data`
/// and `meta` as JSON values (a string if they do not parse).
nlohmann::json event_to_json(const Event& event);

/// Appends the line `event_to_json(event).dump()` gives (same keys, same
/// order) and a newline to `out`, without building a JSON value: replay
/// writes the whole log this way. `data` and `meta` are copied as stored
/// when they are JSON objects, as everything muster writes is.
void append_event_jsonl(std::string& out, const EventView& event);

/// Appends the agent as JSON: `to_json(agent.state)` with `last_seen` (and,
/// when `with_health`, a `health` block: last_seen, seconds_since_last_seen,
/// uptime_seconds, health, health_score (see actors/agent/agent_health.hpp),
/// and the latest metrics), keys in nlohmann's (sorted) order. Written
/// directly, without a JSON value: a page of a hundred agents built through
/// nlohmann's DOM spent most of its time in malloc.
void append_agent_json(std::string& out, const AgentView& agent, TimeMs now_ms,
                       const HealthThresholds& thresholds, bool with_health);

/// Sets what the config model knows of the agent (version, hash, status) on
/// `agent`, for its JSON: the registry knows none of it.
void fill_config(AgentView& agent, const ConfigModel& model);

/// A page of agents as every agent list answers it, written directly like
/// `append_agent_json` (each agent without health):
/// {"agents": [...], "next_cursor": "<cursor>" | null, "total": n}.
std::string agent_page_json(const AgentPage& page, TimeMs now_ms, const HealthThresholds& thresholds);

/// {org, name, selector, priority, description, member_count, assignment
/// (or null), created_at, updated_at}; with `with_members`, also `members`:
/// the explicit members' ids, in id order.
nlohmann::json group_to_json(const Group& group, bool with_members);

/// One version of a config, without its files: {version, hash, message,
/// author, created_at, rolled_back_from (a rollback's only)}.
nlohmann::json config_version_to_json(const ConfigVersion& version);

/// {id, name, role, org, created_at, revoked}: never the secret or its digest.
nlohmann::json api_key_to_json(const ApiKey& key);
/// {username, role, org, created_at, password_set_at, sessions (live, as of now_ms)}.
nlohmann::json user_to_json(const User& user, TimeMs now_ms);

/// {id, name, org, labels, created_at, expires_at, max_uses, uses, revoked,
/// expired}: never the secret or its digest.
nlohmann::json enrollment_token_to_json(const EnrollmentToken& token, TimeMs now_ms);

nlohmann::json stats_to_json(const FleetStats& stats, std::uint64_t log_position);

/// {job_id, org, action, params, state, total, done, succeeded, failed,
/// created_at, finished_at, created_by, position}, and "failures" (the
/// first ones, each {agent_id, code, error}) when `with_failures`.
nlohmann::json bulk_job_to_json(const BulkJob& job, bool with_failures);

/// {"none": n, "pending": n, "applying": n, "applied": n, "failed": n, "drifted": n}.
nlohmann::json config_status_counts_to_json(const ConfigStatusCounts& counts);

/// {"error": message, "code": code, "details": details?}
nlohmann::json error_body(const std::string& message, const std::string& code,
                          const nlohmann::json& details = nullptr);

/// One notification as its alerts' deliveries show it: kind, channel,
/// state, attempts (the recent ones with their outcome), the alerts it
/// listed, and why it was suppressed or abandoned.
nlohmann::json delivery_to_json(const NotificationRecord& record);

}  // namespace muster::http
