#pragma once
/// The settings file `muster serve --config FILE` reads: the serve flags as
/// `name = value` lines in a subset of TOML, so a file can be checked with
/// any TOML tool and needs no parser dependency:
///
///   # comments, blank lines
///   listen = "0.0.0.0:8080"       # a flag's name without its dashes
///   heartbeat_timeout = "90s"     # underscores or dashes, either
///   http-threads = 4              # bare integers
///   metrics-require-key = true    # true applies a switch, false leaves it off
///
/// Strings are TOML basic strings ("...", escapes \" \\ \n \t \uXXXX) or
/// literal strings ('...'). Tables, arrays, dotted keys and multi-line
/// strings are refused with the line that has them, not skipped: a setting
/// muster does not apply must not look applied.
///
/// What each setting means and which wins over which: README "Configuration".

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace muster::app {

struct ConfigSetting {
  std::string flag;  ///< "--" + the key, underscores made dashes: "--heartbeat-timeout".
  std::string value;
  /// For `true` / `false`: a switch's state (a flag that takes a value gets
  /// the text "true" or "false").
  std::optional<bool> boolean;
  std::size_t line = 0;  ///< 1-based.
};

/// The settings of `text`, in file order. Errors: `invalid_argument`, its
/// message starting with "line N: ".
Result<std::vector<ConfigSetting>> parse_config_file(std::string_view text);

/// The environment variable for `flag`: "--heartbeat-timeout" ->
/// "MUSTER_HEARTBEAT_TIMEOUT".
std::string environment_name(std::string_view flag);

}  // namespace muster::app
