#pragma once
// An environment holding exactly `variables`, for the app suites that read
// settings from the environment (config_file, remote_cli).

#include <map>
#include <optional>
#include <string>

#include "app/cli.hpp"

namespace muster::testing {

inline app::Environment environment_of(std::map<std::string, std::string> variables) {
  return [variables](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

}  // namespace muster::testing
