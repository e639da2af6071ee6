#pragma once
/// The `muster` subcommands. Each returns the process exit code.

#include <string>
#include <vector>

#include "app/cli.hpp"

namespace muster::app {

/// Serves until SIGTERM or SIGINT, then drains requests, flushes and returns 0.
/// Returns 1 if the store cannot be opened or recovered, or the address cannot be bound.
int run_serve(const ServeOptions& options);

/// Prints events or, with `at_ms`, an agent's past state to stdout.
/// Returns 1 if the data cannot be read or the agent is unknown.
int run_replay(const ReplayOptions& options);

/// Issues an API key into a stopped server's data directory and prints it.
/// Returns 1 if the store cannot be opened (for example, a server holds it).
int run_keys_create(const KeysCreateOptions& options);

/// Makes an operator account in a stopped server's data directory, its
/// password read from stdin (prompted for, without echo, on a terminal).
/// Returns 1 if the store cannot be opened or the user not made.
int run_users_create(const UsersCreateOptions& options);

/// Prints the backup document of one organization's configuration, read
/// from a data directory (a stopped server's, or beside a running one).
/// Returns 1 if the data cannot be read.
int run_backup(const BackupOptions& options);

/// Whether `group` ("agents", "keys", ...) names remote commands: those
/// that call a running server's operators' API (app/remote_command.hpp).
bool is_remote_group(const std::string& group);

/// Runs `muster GROUP VERB args...` (`args` from GROUP on) against a running
/// server, or prints its help. Returns an ExitCode (app/api_client.hpp).
int run_remote(const std::vector<std::string>& args);

/// The remote commands' part of `muster --help`, with the exit codes.
std::string remote_usage();

/// Sends a backup document from stdin to a running server's restore route
/// and prints its answer. Returns 1 if the server cannot be reached or
/// answers an error.
int run_restore(const RestoreCommandOptions& options);

}  // namespace muster::app
