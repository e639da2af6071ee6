#pragma once
/// OpAMP's messages in muster's terms, and back: pure functions, no
/// services, so tests and the fuzz target reach every one of them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_decider.hpp"
#include "actors/config/config_files.hpp"
#include "actors/config/desired_config.hpp"
#include "common/clock.hpp"
#include "opamp.pb.h"

namespace muster::http {

/// An OpAMP instance_uid is 16 bytes (a UUID's).
inline constexpr std::size_t kInstanceUidBytes = 16;

/// Where the attributes of an agent's description that are not its identity
/// go among its labels: "opamp/os.type".
inline constexpr std::string_view kAttributeLabelPrefix = "opamp/";

/// The names of the AgentCapabilities bits set in `capabilities`
/// ("ReportsStatus", ...), in bit order; unknown bits are left out.
std::vector<std::string> capability_names(std::uint64_t capabilities);

/// A new instance_uid: a UUIDv7 (milliseconds since the epoch, then random bits).
std::string new_instance_uid(TimeMs now_ms);

/// 16 bytes as a lowercase UUID string (8-4-4-4-12); `uid` must be 16 bytes.
std::string uuid_text(std::string_view uid);

/// What a description says of an agent, as a registration: `service.instance.id`
/// (identifying; else `uid` as a UUID) its instance_id, `service.name` its
/// type, `service.version` its version, `host.name` its hostname; other
/// non-identifying attributes with scalar values become labels under
/// kAttributeLabelPrefix (keys and values a registration would take, at most 64).
/// Text is cut to what a registration takes; control characters drop a field.
Registration registration_of(const opamp::AgentDescription& description, std::string_view uid);

/// `service.version` of a description, if it has one.
std::optional<std::string> description_version(const opamp::AgentDescription& description);

/// {healthy, last_error?, status?, start_time_unix_nano?, components?: {name:
/// {...}}}: nested components to a depth of 4, 256 per level, text cut.
nlohmann::json health_to_json(const opamp::ComponentHealth& health);

/// An OpAMP config map as muster's files, if every name and content type is
/// one a config may hold and the bodies fit `max_bytes` together.
std::optional<ConfigFiles> files_of(const opamp::AgentConfigMap& map, std::size_t max_bytes);

/// APPLYING, APPLIED, FAILED as muster's report statuses; nullopt for UNSET
/// and values the protocol does not define.
std::optional<ConfigReportStatus> report_status_of(int status);

/// A 32-byte SHA-256 as 64 lowercase hex digits; empty for any other length.
std::string hash_hex_of(std::string_view bytes);

/// The error text an agent reports, cut to what muster keeps (4 KiB).
std::string agent_error_text(std::string_view text);

/// Sends the protobuf library's own log lines to muster's log, at debug
/// level, instead of raw onto stderr: it writes one for every string field
/// of a message that is not UTF-8, which any agent could send in a loop.
/// Call once at start-up, before any message is parsed (not thread-safe).
void route_protobuf_logs();

}  // namespace muster::http
