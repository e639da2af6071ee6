#pragma once
/// The `muster` command line: each flag maps onto one field of a module's
/// options struct (defaults live there, not here).

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/agent/agent_service.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "app/api_client.hpp"
#include "common/log.hpp"
#include "common/result.hpp"
#include "eventstore/metrics/metric_history.hpp"
#include "eventstore/nats_storage.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "http/api_server.hpp"

namespace muster::app {

/// Where the event log lives (--store).
enum class StoreKind {
  rocksdb,  ///< In the data directory: one node.
  nats,     ///< In a NATS JetStream stream shared by several nodes, each with a replica in its data directory.
};

struct ServeOptions {
  RocksDbOptions store;
  StoreKind store_kind = StoreKind::rocksdb;
  /// With --store nats: how to reach the stream (its `store` and `path` are
  /// taken from `store` when it opens).
  NatsOptions nats;
  /// With --store nats: accept fewer than 3 replicas (--allow-unreplicated).
  bool allow_unreplicated = false;
  /// With --store nats: the host other nodes reach this one's listeners at
  /// (--advertise-host). Empty: the listeners' own host.
  std::string advertise_host;
  /// With --store nats: how long the leader's lease lives unrenewed
  /// (--lease-period). It must outlast NATS's own failover of the lease's
  /// bucket: 3-6.5 s measured with nats-server 2.9.10 (README).
  TimeMs lease_period_ms = 15'000;
  AgentServiceOptions agents;
  http::ApiServerOptions http;
  /// How often the read models are snapshotted (a restart folds only the log after). Default: 30 s.
  TimeMs snapshot_interval_ms = 30'000;
  /// How often each running rollout is measured and may advance. Default: 1 s.
  TimeMs rollout_tick_ms = 1'000;
  /// How long a notification is retried before it is abandoned
  /// (--webhook-retry-for). Default: 1 h.
  TimeMs webhook_retry_for_ms = 3'600'000;
  /// The metrics history's retentions (--metrics-*-retention) and timings.
  MetricHistoryOptions metrics;
  /// Keep heartbeats' metrics over time (--metrics-history off: only each
  /// agent's latest, as before the history existed). Default: on.
  bool metrics_history = true;
  log::Level log_level = log::Level::info;
  bool enable_test_hooks = false;
  /// Test-only (with --enable-test-hooks): see eventstore/file_hooks.hpp.
  std::string test_sync_ledger;
  std::string test_fail_writes_while;
  std::size_t test_sync_delay_ms = 0;
  /// Test-only (with --enable-test-hooks): the server's clock moves only when
  /// POST /_test/clock/advance says, starting at the real time.
  bool test_manual_clock = false;
};

enum class ReplayFormat { jsonl, table };

struct ReplayOptions {
  std::string data_dir = "./data";
  std::optional<std::string> agent_id;
  std::optional<std::string> instance_id;
  /// With `instance_id`: the organization whose agent to show, needed when
  /// the same instance id is registered in several.
  std::optional<std::string> org;
  std::optional<std::string> type;
  /// Only AgentReported events of this report type (implies that event type).
  std::optional<std::string> report_type;
  std::optional<TimeMs> since_ms;
  std::optional<TimeMs> until_ms;
  std::optional<TimeMs> at_ms;  ///< Print the agent's state as of this time instead of events.
  ReplayFormat format = ReplayFormat::jsonl;
  /// Show how far a scan of the whole log got on stderr even when it is not
  /// a terminal (app/progress.hpp).
  bool progress = false;
};

struct KeysCreateOptions {
  std::string data_dir = "./data";
  std::string name;
  Role role = Role::viewer;
  std::string org{kDefaultOrg};  ///< Or "*": every organization.
};

/// `muster users create --data DIR`: an operator account made offline (the
/// first admin of a data directory); the password comes on stdin.
struct UsersCreateOptions {
  std::string data_dir = "./data";
  std::string username;
  Role role = Role::viewer;
  std::string org{kDefaultOrg};  ///< Or "*": every organization.
};

struct BackupOptions {
  std::string data_dir = "./data";
  std::string org{kDefaultOrg};  ///< The organization whose configuration to print.
  /// Show how far the fold of the log got even off a terminal (app/progress.hpp).
  bool progress = false;
};

struct RestoreCommandOptions {
  /// The server's operators' listener: http://HOST:PORT or https://HOST:PORT.
  std::string url;
  /// An admin API key.
  std::string key;
  /// The organization to restore into; unset: the key's own (or "default"
  /// for a key of every organization), as the API decides.
  std::optional<std::string> org;
  /// Ask what would change; change nothing.
  bool dry_run = false;
  /// Say what is being sent and waited for even off a terminal (app/progress.hpp).
  bool progress = false;
  /// PEM file of the certificate authority to trust for an https URL; empty: the system's.
  std::string ca_cert_path;
};

/// How a remote subcommand prints answers: a table (or `name: value` lines)
/// for people, or the API's JSON for scripts.
enum class OutputFormat { table, json };

/// What one remote subcommand (`muster agents list`, ...) takes besides the
/// options every remote subcommand takes (--server, --key, --ca-cert, --output).
struct RemoteCommandSpec {
  /// Its positional arguments' names, in order, each required (e.g. "AGENT_ID").
  std::vector<std::string> arguments;
  /// Options that take a value, at most once each (e.g. "--status").
  std::vector<std::string> options;
  /// Options that take a value and may be given several times (e.g. "--label").
  std::vector<std::string> repeated_options;
  /// Options without a value (e.g. "--follow").
  std::vector<std::string> switches;
};

/// A remote subcommand's command line, parsed. Values are not checked
/// beyond their presence: the server judges them, with its own errors.
struct RemoteInvocation {
  std::string command;  ///< "agents list": names it in messages (set by whoever dispatches it).
  ApiClientOptions client;
  OutputFormat output = OutputFormat::table;
  std::vector<std::string> arguments;  ///< In RemoteCommandSpec::arguments' order.
  std::map<std::string, std::vector<std::string>> values;  ///< Option -> its values, in order given.
  std::set<std::string> switches;  ///< The switches given.
  /// The value given to `option` (the last one), or nullopt.
  std::optional<std::string> value(const std::string& option) const;
};

/// An environment variable's value by name; nullopt when unset.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
/// This process's environment (getenv).
Environment process_environment();

/// `args` excludes the program name and the subcommand. Errors are
/// `invalid_argument` with a message fit for the terminal, naming where the
/// bad setting came from.
///
/// Settings come from, each overriding the one before flag by flag: the
/// options structs' defaults; the config file (`--config FILE`, else
/// $MUSTER_CONFIG; app/config_file.hpp); environment variables, one per
/// flag (`--heartbeat-timeout` -> MUSTER_HEARTBEAT_TIMEOUT; a switch takes
/// true/false or 1/0); the command line.
Result<ServeOptions> parse_serve_args(const std::vector<std::string>& args,
                                      const Environment& environment = process_environment());
Result<ReplayOptions> parse_replay_args(const std::vector<std::string>& args);
/// `args` excludes "keys create".
Result<KeysCreateOptions> parse_keys_create_args(const std::vector<std::string>& args);
/// `args` excludes "users create".
Result<UsersCreateOptions> parse_users_create_args(const std::vector<std::string>& args);

Result<BackupOptions> parse_backup_args(const std::vector<std::string>& args);
Result<RestoreCommandOptions> parse_restore_args(const std::vector<std::string>& args);

/// `args` excludes the subcommand ("agents list"). --server defaults to
/// $MUSTER_SERVER, then kDefaultServerUrl; --key to $MUSTER_KEY; a flag wins
/// over its variable. Errors are `invalid_argument`, as above.
Result<RemoteInvocation> parse_remote_args(const RemoteCommandSpec& spec, const std::vector<std::string>& args,
                                           const Environment& environment = process_environment());

/// The text of `muster --help`.
const char* usage();

}  // namespace muster::app
