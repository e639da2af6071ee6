#pragma once
/// Configs and policies: named, versioned file maps. Each is a stream
/// "config:<org>/<name>"; every version is immutable and stays readable:
///
///   ConfigCreated       {org, name, kind: "config" | "policy", description}
///   ConfigVersionAdded  {version, files: {...}, hash, message, author,
///                        rolled_back_from?}   (author: the principal)
///   ConfigDeleted       {}
///
/// A deleted config may be created again under its name; its versions then
/// continue from the last number, so a version number never names two
/// different file maps.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/config/config_files.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kConfigKind = "config";

enum class ConfigKind : std::uint8_t { config, policy };
const char* to_string(ConfigKind kind);
std::optional<ConfigKind> parse_config_kind(std::string_view text);


struct ConfigCreated {
  static constexpr EventType kType{"ConfigCreated", kConfigKind, 1};
  std::string org;
  std::string name;
  ConfigKind kind = ConfigKind::config;
  std::string description;

  nlohmann::json to_json() const;
  static Result<ConfigCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct ConfigVersionAdded {
  static constexpr EventType kType{"ConfigVersionAdded", kConfigKind, 1};
  std::uint64_t version = 0;
  SharedConfigFiles files;
  std::string hash;  ///< hash_files(*files).
  std::string message;
  std::string author;
  std::uint64_t rolled_back_from = 0;  ///< The version this one copies (a rollback); 0 otherwise.

  nlohmann::json to_json() const;
  static Result<ConfigVersionAdded> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct ConfigDeleted {
  static constexpr EventType kType{"ConfigDeleted", kConfigKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<ConfigDeleted> from_json(const nlohmann::json&, std::uint32_t) { return ConfigDeleted{}; }
};

using ConfigEvent = std::variant<ConfigCreated, ConfigVersionAdded, ConfigDeleted>;

struct ConfigVersion {
  std::uint64_t number = 0;
  SharedConfigFiles files;
  std::string hash;
  std::string message;
  std::string author;
  std::uint64_t rolled_back_from = 0;
  TimeMs created_at_ms = 0;
  std::uint64_t position = 0;  ///< Of its ConfigVersionAdded.
};

bool operator==(const ConfigVersion& left, const ConfigVersion& right);

struct Config {
  std::string org;
  std::string name;
  ConfigKind kind = ConfigKind::config;
  std::string description;
  bool exists = false;                  ///< Created and not deleted since.
  std::vector<ConfigVersion> versions;  ///< Every version ever made, in number order.
  TimeMs created_at_ms = 0;
  TimeMs updated_at_ms = 0;
  std::uint64_t version = 0;  ///< Stream version.
  std::uint64_t last_position = 0;

  /// The latest version; null before the first.
  const ConfigVersion* latest() const { return versions.empty() ? nullptr : &versions.back(); }
  /// Version `number`; null if there is none.
  const ConfigVersion* find_version(std::uint64_t number) const;
};

bool operator==(const Config& left, const Config& right);

/// Folds one event of a "config:" stream. Errors: `corruption`, state unchanged.
Status apply(Config& config, const Event& event);
Status apply(Config& config, const ConfigEvent& event, const EventHeader& header);

}  // namespace muster
