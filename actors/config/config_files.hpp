#pragma once
/// What a config holds: a map of named files, the shape of OpAMP's
/// AgentConfigMap ({"<file name>": {"content_type", "body"}}), so OpAMP can
/// carry it as is; and the content hash that names a file map (and a desired
/// configuration) everywhere: ETags, heartbeat answers, drift.
///
/// The hash is SHA-256 over a canonical encoding (each file in name order as
/// length-prefixed name, content type and body), so equal maps hash equal
/// however their JSON was written.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace muster {

struct ConfigFile {
  std::string content_type;
  std::string body;
};

inline bool operator==(const ConfigFile& left, const ConfigFile& right) {
  return left.content_type == right.content_type && left.body == right.body;
}

/// File name -> file, in name order.
using ConfigFiles = std::map<std::string, ConfigFile>;
/// File maps are immutable once made and shared between versions, agents and answers.
using SharedConfigFiles = std::shared_ptr<const ConfigFiles>;

/// Defaults and bounds.
inline constexpr std::size_t kDefaultMaxConfigBytes = 1 << 20;  ///< Bodies of one file map, in total.
inline constexpr std::size_t kMaxConfigNameLength = 63;
inline constexpr std::size_t kMaxDescriptionLength = 1024;  ///< Of a config or a group.
inline constexpr std::size_t kMaxVersionMessageLength = 4096;
inline constexpr std::size_t kMaxConfigFiles = 256;
inline constexpr std::size_t kMaxFileNameLength = 255;
inline constexpr std::size_t kMaxContentTypeLength = 127;

/// True for a config, policy or group name: [a-z0-9][a-z0-9._-]{0,62}.
bool is_valid_config_name(std::string_view name);
/// What a refused name is told.
inline constexpr const char* kConfigNameRule =
    "must be 1 to 63 characters of [a-z0-9._-], starting with a letter or digit";
/// `is_valid_config_name`, as an `invalid_argument` error naming the field "name".
Status check_config_name(std::string_view name);
/// True for a file name: 1 to 255 characters of [A-Za-z0-9._/-], not
/// starting with '/' or '.', no "..", no "//".
bool is_valid_file_name(std::string_view name);

/// {"<name>": {"content_type": "...", "body": "..."}} as JSON.
nlohmann::json files_to_json(const ConfigFiles& files);

/// Reads a file map written by `files_to_json` (events, snapshots, backups),
/// without the request limits. Errors: `corruption` naming what is wrong.
Result<ConfigFiles> files_from_json(const nlohmann::json& files);

/// Bytes of every body together (what `--max-config-bytes` bounds).
std::size_t total_body_bytes(const ConfigFiles& files);

/// The canonical encoding's SHA-256, 64 lowercase hex digits.
std::string hash_files(const ConfigFiles& files);

}  // namespace muster
