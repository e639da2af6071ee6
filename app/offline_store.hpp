#pragma once
/// The data directory of a stopped server, opened by a command that writes
/// into it as `serve` would (`keys create --data`, `users create --data`).

#include <memory>
#include <string>

#include "common/clock.hpp"
#include "eventstore/storage.hpp"

namespace muster::app {

/// Opens `data_dir` read-write with `clock`. On failure prints one line on
/// stderr naming `command`, and, when a running server holds the directory,
/// says to use `api_route` with an admin key instead; returns null.
std::unique_ptr<Storage> open_stopped_data_dir(const std::string& command, const std::string& data_dir,
                                               const Clock& clock, const std::string& api_route);

}  // namespace muster::app
