#pragma once
/// A password for the CLI, never from an argument (ps and shell histories
/// keep those): one line of stdin without its line end; on a terminal,
/// asked for with echo off. Nullopt at the end of input.

#include <optional>
#include <string>

namespace muster::app {

std::optional<std::string> read_password();

}  // namespace muster::app
