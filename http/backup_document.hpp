#pragma once
/// The backup document: what GET /api/v1/backup answers and `muster backup`
/// prints, and what POST /api/v1/restore reads back (README "Backup and
/// restore"):
///
///   {"format": "muster-backup", "format_version": 1, "org", "created_at",
///    "log_position",
///    "configs": [{"name", "kind", "description",
///                 "versions": [{"version", "hash", "files", "message",
///                               "author", "created_at", "rolled_back_from"?}]}],
///    "groups": [{"name", "selector", "priority", "description",
///                "members": [agent ids], "assignment" (or null)}],
///    "agents": [{"agent_id", "instance_id", "assignment"}],
///    "instances": {"<agent id>": "<instance id>"}}
///
/// `instances` names the instance id of every agent the document names, so
/// that a restore into a new data directory finds group members again by
/// their instance id (agent ids are made anew there). Nothing secret is in
/// it: no token, no digest.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/config/restore.hpp"
#include "http/request_parsing.hpp"

namespace muster::http {

inline constexpr std::string_view kBackupFormat = "muster-backup";
inline constexpr std::uint64_t kBackupFormatVersion = 1;
/// Elements (see parse_json_object) a backup document may hold.
inline constexpr std::size_t kMaxBackupElements = 4'000'000;

/// The document of `backup`.
nlohmann::json backup_to_json(const Backup& backup);

/// Reads a backup document, checking every field as the API's own routes
/// check it (names, files within `max_config_bytes` per version, selectors,
/// priorities, assignments), and that it holds together: each version's
/// hash is its files' hash and differs from the version before it; versions
/// are numbered upwards; a rollback copies an earlier version of the same
/// content; an assignment names configs (or policies) of the document and
/// versions they have. Refused with details naming each bad field
/// ("configs[0].versions[1].hash", "groups[2].assignment.version"), at most
/// 100 of them. `org`, `created_at` and `log_position` are informational.
Parsed<Backup> parse_backup(const nlohmann::json& document, std::size_t max_config_bytes);

}  // namespace muster::http
