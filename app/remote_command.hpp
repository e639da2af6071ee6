#pragma once
/// The remote subcommands (`muster agents list`, `muster keys revoke`, ...):
/// each a row of a table, so that dispatch, `--help` and the README agree,
/// plus the output shared by all of them.
///
/// A command builds its request from a RemoteInvocation, sends it with an
/// ApiClient and prints the answer: the API's JSON with `--output json`,
/// else a table of a list or `name: value` lines of one object. Failures go
/// to stderr as one line (describe_failure) and the exit code says which
/// kind (ExitCode). Text from the server is printed terminal-safe
/// (app/terminal_text.hpp): agents choose their own names and labels.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/api_client.hpp"
#include "app/cli.hpp"
#include "common/percent_encoding.hpp"

namespace muster::app {

struct RemoteCommand {
  std::string group;     ///< "agents"
  std::string verb;      ///< "list"
  std::string synopsis;  ///< Its arguments, for usage: "[--status S] ..."
  std::string summary;   ///< One line: what it does.
  RemoteCommandSpec spec;
  /// Runs it; returns the exit code.
  std::function<int(ApiClient&, const RemoteInvocation&)> run;
};

/// The path of one thing: `collection`/`id``tail`, the id percent-encoded
/// (whether it is well formed is the server's to judge).
std::string path_of(const std::string& collection, const std::string& id, const std::string& tail = "");

/// A command on one thing named by its only argument `argument` (e.g.
/// "AGENT_ID"): `method` on `collection`/ID`tail`, no body, the answer
/// printed as run_one does.
RemoteCommand command_on_one(const std::string& group, const std::string& verb, const std::string& argument,
                             const std::string& summary, const std::string& method,
                             const std::string& collection, const std::string& tail = "");

/// Each group's commands, in the order `--help` lists them. A new group is
/// one more such function, added to the list in remote_commands.cpp.
std::vector<RemoteCommand> fleet_commands();   ///< agents, groups, configs, commands, rollouts, alerts
std::vector<RemoteCommand> config_commands();  ///< configs (part of fleet_commands)
std::vector<RemoteCommand> access_commands();  ///< keys, tokens
std::vector<RemoteCommand> event_commands();   ///< events tail

/// A query string built from options: `add` skips values not given.
class Query {
 public:
  Query& add(const std::string& parameter, const std::optional<std::string>& value);
  Query& add_each(const std::string& parameter, const std::vector<std::string>& values);
  /// `path` with "?..." appended when any parameter was added.
  std::string on(const std::string& path) const;

 private:
  std::string text_;
};

/// A JSON object of the options given among `fields` (option, member name),
/// as strings; options not given are left out, so the server's defaults apply.
nlohmann::json body_of(const RemoteInvocation& invocation,
                       const std::vector<std::pair<std::string, std::string>>& fields);

/// `text` as a JSON number when it is a whole number, else as a string,
/// which the server then refuses naming the field.
nlohmann::json number_or_text(const std::string& text);

/// One column of a table: its header and the answer's field it shows
/// ("name", or a path into nested objects such as "health.last_seen").
struct Column {
  std::string header;
  std::string field;
};

/// GETs `target`, a list whose items are in `items_key`, and prints it as a
/// table of `columns` (with its total and the cursor of the next page when
/// the answer has them). Returns the exit code.
int run_list(ApiClient& client, const RemoteInvocation& invocation, const std::string& target,
             const std::string& items_key, const std::vector<Column>& columns);

/// Sends `method` `target` (with `body` when given) and prints the answer,
/// one object, as `name: value` lines. Returns the exit code.
int run_one(ApiClient& client, const RemoteInvocation& invocation, const std::string& method,
            const std::string& target, const std::optional<nlohmann::json>& body = std::nullopt);

/// Prints `answer` as run_one does (or why it failed); returns the exit code.
int print_one(const RemoteInvocation& invocation, const ApiAnswer& answer);

/// Prints why `answer` failed on stderr, one line naming the command (with
/// `--output json`, the server's error document as it is); returns its exit code.
int report_failure(const RemoteInvocation& invocation, const ApiAnswer& answer);

/// `value` as one line for a table cell or a `name: value` line: strings
/// as they are, null as "-", anything else as compact JSON; terminal-safe.
std::string cell_text(const nlohmann::json& value);

/// Prints `document` as compact JSON on one line of stdout, terminal-safe.
void print_json_line(const nlohmann::json& document);

/// The bytes of the local file `path` (a config's file, a rollout's
/// definition); nullopt, with one line on stderr naming the command, if it
/// cannot be read.
std::optional<std::string> read_local_file(const RemoteInvocation& invocation, const std::string& path);

/// Flushes stdout; returns kExitOk, or kExitUnavailable if it could not be written.
int finish_output();

}  // namespace muster::app
