#pragma once
/// Reading what groups and agents are told to run, and which agents a group
/// or a bulk job selects, from request bodies. Total like request_parsing.hpp: any JSON
/// in gives a value or an `Invalid` whose details name each bad field.

#include <nlohmann/json.hpp>

#include "actors/bulk/bulk_service.hpp"
#include "actors/config/assignment.hpp"
#include "actors/group/group_state.hpp"
#include "http/request_parsing.hpp"

namespace muster::http {

/// An assignment body, every member optional:
///
///   {"config": "<name>", "version": N | "latest",
///    "policies": ["<name>" | {"name": "<name>", "version": N | "latest"}, ...],
///    "settings": {...}}
///
/// Names are config names ([a-z0-9][a-z0-9._-]{0,62}); versions whole
/// numbers from 1, or "latest" (the default, held as 0). "version" needs
/// "config". Policies are distinct, at most kMaxPolicies. Settings are an
/// object nested at most kMaxSettingsDepth deep, at most kMaxSettingsBytes
/// as compact JSON. A null member counts as absent; any other member is
/// refused. An empty body (or one with only empty members) gives an
/// assignment whose `empty()` is true: the caller's way to clear one.
/// Details name "config", "version", "policies" or "settings".
Parsed<Assignment> parse_assignment(const nlohmann::json& body);

/// A group's label selector: an object of string to string under the rules
/// of agents' labels (parse_labels). Details name "selector".
Parsed<LabelSelector> parse_selector(const nlohmann::json& value);

/// Which agents a bulk job or a batch of commands acts on: an object of
/// criteria, each optional (BulkSelector says how they combine):
///
///   {"agent_ids": [...], "group": "<name>", "labels": {...},
///    "status": "ONLINE"|"DEGRADED"|"OFFLINE", "config_status": "...", "q": "<text>"}
///
/// Each problem goes into `problems` under "selector.<criterion>" (or
/// "selector" for a value that is no object).
BulkSelector parse_bulk_selector(const nlohmann::json& value, nlohmann::json& problems);

}  // namespace muster::http
