#pragma once
/// A config's commands and decisions, and the config as the runtime runs it.
///
/// Every change is a new immutable version (ConfigVersionAdded); nothing
/// decided here ever rewrites one. A change that would make a version equal
/// to the latest (same files hash) adds nothing, so a retried request is
/// harmless.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/config/config_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

/// The first version of a config (or of one deleted before).
struct CreateConfig {
  std::string org;
  std::string name;
  ConfigKind kind = ConfigKind::config;
  std::string description;
  SharedConfigFiles files;  ///< Validated by the caller; not empty.
  std::string message;
  std::string author;  ///< The principal ("key:<id>").
};

/// A new version with `files`; with `expected_version`, only if the latest
/// version is that one.
struct AddConfigVersion {
  SharedConfigFiles files;  ///< Validated by the caller; not empty.
  std::string message;
  std::string author;
  std::optional<std::uint64_t> expected_version;
};

/// A new version equal to version `to_version`.
struct RollbackConfig {
  std::uint64_t to_version = 0;
  std::string message;  ///< Empty: "rollback to version N".
  std::string author;
};

struct DeleteConfig {};

using ConfigCommand = std::variant<CreateConfig, AddConfigVersion, RollbackConfig, DeleteConfig>;

/// ConfigCreated and the first ConfigVersionAdded (numbered after any
/// version the config had before a deletion). Refused: `conflict` /
/// CONFIG_EXISTS while the config exists.
Result<std::vector<ConfigEvent>> decide_create(const Config& config, const CreateConfig& command);
/// ConfigVersionAdded, or nothing when the files hash as the latest version's.
/// Refused: `not_found` / CONFIG_NOT_FOUND; `failed_precondition` /
/// VERSION_MISMATCH when `expected_version` is not the latest.
Result<std::vector<ConfigEvent>> decide_add_version(const Config& config, const AddConfigVersion& command);
/// ConfigVersionAdded copying version `to_version` (`rolled_back_from` set),
/// or nothing when the latest already has its hash. Refused: `not_found` /
/// CONFIG_NOT_FOUND; `invalid_argument` / VERSION_NOT_FOUND (field "version").
Result<std::vector<ConfigEvent>> decide_rollback(const Config& config, const RollbackConfig& command);
/// ConfigDeleted; its versions stay in the log. Refused: `not_found` / CONFIG_NOT_FOUND.
/// Whether anything is assigned the config is the service's check (it reads the config model).
Result<std::vector<ConfigEvent>> decide_delete(const Config& config);

struct ConfigAggregate {
  static constexpr std::string_view kKind = kConfigKind;
  using State = Config;
  using Payload = ConfigEvent;
  using Command = ConfigCommand;
  using Context = runtime::DecideContext;

  /// `id` is org_scoped_id(org, name): "<org>/<name>".
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) {
    return stream_name(kKind, org_scoped_id(state.org, state.name));
  }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
