#include "actors/config/config_decider.hpp"

#include <fmt/format.h>

namespace muster {
namespace {

Error config_not_found() {
  return make_error(ErrorCode::not_found, "no config with this name", "CONFIG_NOT_FOUND");
}

// Every version must hold files: the routes refuse an empty map, and an
// event without one would not fold.
Status check_files(const SharedConfigFiles& files) {
  if (!files || files->empty()) return invalid_field("files", "must hold at least one file");
  return Status::success();
}

ConfigVersionAdded next_version(const Config& config, SharedConfigFiles files, std::string hash,
                                std::string message, std::string author, std::uint64_t rolled_back_from = 0) {
  return ConfigVersionAdded{config.versions.size() + 1, std::move(files),  std::move(hash),
                            std::move(message),         std::move(author), rolled_back_from};
}

}  // namespace

Result<std::vector<ConfigEvent>> decide_create(const Config& config, const CreateConfig& command) {
  if (config.exists) {
    return make_error(ErrorCode::conflict, "a config with this name exists", "CONFIG_EXISTS");
  }
  if (command.org != config.org || command.name != config.name) {
    return make_error(ErrorCode::internal, "a config's creation names another config than its stream");
  }
  if (Status files = check_files(command.files); !files) return files.error();
  return std::vector<ConfigEvent>{
      ConfigCreated{command.org, command.name, command.kind, command.description},
      next_version(config, command.files, hash_files(*command.files), command.message, command.author)};
}

Result<std::vector<ConfigEvent>> decide_add_version(const Config& config, const AddConfigVersion& command) {
  const ConfigVersion* latest = config.latest();
  if (!config.exists || latest == nullptr) return config_not_found();
  if (command.expected_version && *command.expected_version != latest->number) {
    return make_error(ErrorCode::failed_precondition,
                      fmt::format("the latest version is {}, not {}: someone changed the config first",
                                  latest->number, *command.expected_version),
                      "VERSION_MISMATCH");
  }
  if (Status files = check_files(command.files); !files) return files.error();
  std::string hash = hash_files(*command.files);
  if (hash == latest->hash) return std::vector<ConfigEvent>{};
  return std::vector<ConfigEvent>{
      next_version(config, command.files, std::move(hash), command.message, command.author)};
}

Result<std::vector<ConfigEvent>> decide_rollback(const Config& config, const RollbackConfig& command) {
  const ConfigVersion* latest = config.latest();
  if (!config.exists || latest == nullptr) return config_not_found();
  const ConfigVersion* target = config.find_version(command.to_version);
  if (target == nullptr) {
    return invalid_field("version", fmt::format("this config has versions 1 to {}", latest->number),
                         "VERSION_NOT_FOUND");
  }
  if (target->hash == latest->hash) return std::vector<ConfigEvent>{};
  std::string message =
      command.message.empty() ? fmt::format("rollback to version {}", target->number) : command.message;
  return std::vector<ConfigEvent>{
      next_version(config, target->files, target->hash, std::move(message), command.author, target->number)};
}

Result<std::vector<ConfigEvent>> decide_delete(const Config& config) {
  if (!config.exists) return config_not_found();
  return std::vector<ConfigEvent>{ConfigDeleted{}};
}

Config ConfigAggregate::initial_state(const std::string& id) {
  Config config;
  if (const auto scoped = split_org_scoped_id(id)) {
    config.org = std::string(scoped->org);
    config.name = std::string(scoped->name);
  }
  return config;
}

Result<std::vector<ConfigEvent>> ConfigAggregate::decide(const State& state, const Command& command,
                                                         Context& /*context*/) {
  return std::visit(
      [&state](const auto& typed) -> Result<std::vector<ConfigEvent>> {
        using T = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<T, CreateConfig>) {
          return decide_create(state, typed);
        } else if constexpr (std::is_same_v<T, AddConfigVersion>) {
          return decide_add_version(state, typed);
        } else if constexpr (std::is_same_v<T, RollbackConfig>) {
          return decide_rollback(state, typed);
        } else {
          return decide_delete(state);
        }
      },
      command);
}

}  // namespace muster
