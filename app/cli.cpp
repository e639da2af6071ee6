#include "app/cli.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "actors/user/user_state.hpp"
#include "app/config_file.hpp"
#include "common/time_format.hpp"
#include "http/request_parsing.hpp"

namespace muster::app {
namespace {

Error usage_error(const std::string& message) {
  return make_error(ErrorCode::invalid_argument, message);
}

// Applies "--name value" / "--name=value" pairs and bare "--name" switches,
// and, when `positional` is set, hands it each argument not starting with '-'.
// A setter returns an error message, or empty when the value was accepted.
struct FlagTable {
  std::map<std::string, std::function<std::string(const std::string&)>> with_value;
  std::map<std::string, std::function<void()>> switches;
  std::function<std::string(const std::string&)> positional;

  Status apply(const std::vector<std::string>& args) const {
    for (std::size_t index = 0; index < args.size(); ++index) {
      if (positional && (args[index].empty() || args[index][0] != '-')) {
        if (std::string problem = positional(args[index]); !problem.empty()) return usage_error(problem);
        continue;
      }
      std::string name = args[index];
      std::optional<std::string> value;
      if (const auto equals = name.find('='); equals != std::string::npos) {
        value = name.substr(equals + 1);
        name = name.substr(0, equals);
      }
      if (const auto found = switches.find(name); found != switches.end() && !value) {
        found->second();
        continue;
      }
      const auto found = with_value.find(name);
      if (found == with_value.end()) return usage_error(fmt::format("unknown option '{}'", name));
      if (!value) {
        if (index + 1 >= args.size()) return usage_error(fmt::format("option {} needs a value", name));
        value = args[++index];
      }
      if (std::string problem = found->second(*value); !problem.empty()) {
        return usage_error(fmt::format("{}: {}", name, problem));
      }
    }
    return Status::success();
  }
};

std::string set_path(const std::string& text, std::string& out) {
  if (text.empty()) return "must not be empty";
  out = text;
  return {};
}

std::string set_duration(const std::string& text, TimeMs& out) {
  auto parsed = parse_duration_ms(text);
  if (!parsed) return parsed.error().message;
  if (*parsed <= 0) return "must be greater than zero";
  out = *parsed;
  return {};
}

std::string set_time(const std::string& text, std::optional<TimeMs>& out) {
  auto parsed = parse_rfc3339(text);
  if (!parsed) return parsed.error().message;
  out = *parsed;
  return {};
}

std::string set_listen(const std::string& text, http::ListenerOptions& api) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return "expected HOST:PORT, e.g. 127.0.0.1:8080";
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    return "port must be 0 to 65535";
  }
  api.host = text.substr(0, colon);
  if (api.host.size() > 2 && api.host.front() == '[' && api.host.back() == ']') {
    api.host = api.host.substr(1, api.host.size() - 2);
  }
  api.port = std::stoi(port);
  return {};
}

// An organization name, as the API takes it; `Out` is a string or an optional one.
template <class Out>
std::string set_org(const std::string& text, Out& out) {
  if (!http::is_valid_org(text)) return "must be 1 to 128 characters of [A-Za-z0-9._-]";
  out = text;
  return {};
}

std::string set_count(const std::string& text, std::size_t& out, std::size_t max_value) {
  // 18 digits still fit std::stoul; every flag's maximum has fewer.
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    return "must be a whole number";
  }
  const std::size_t value = std::stoul(text);
  if (value < 1 || value > max_value) return fmt::format("must be 1 to {}", max_value);
  out = value;
  return {};
}

std::string set_server_url(const std::string& text, std::string& out) {
  out = normalize_server_url(text);
  return out.empty() ? "must be http://HOST:PORT or https://HOST:PORT (no path)" : "";
}

Status with_origin(Status status, const std::string& origin) {
  if (status) return status;
  return usage_error(fmt::format("{}: {}", origin, status.error().message));
}

// The config file's settings, then the environment's, then the command
// line's (README "Configuration"): later ones override earlier ones, flag
// by flag, because each is applied in turn.
Status apply_layers(const FlagTable& flags, const std::vector<std::string>& args, const Environment& environment) {
  std::optional<std::string> config_path = environment("MUSTER_CONFIG");
  std::vector<std::string> command_line;
  for (std::size_t index = 0; index < args.size(); ++index) {
    if (args[index] == "--config") {
      if (index + 1 >= args.size()) return usage_error("option --config needs a value");
      config_path = args[++index];
    } else if (args[index].rfind("--config=", 0) == 0) {
      config_path = args[index].substr(9);
    } else {
      command_line.push_back(args[index]);
    }
  }
  if (config_path) {
    std::ifstream file(*config_path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    if (!file.is_open() || file.bad()) {
      return usage_error(fmt::format("cannot read config file {}: {}", *config_path, std::strerror(errno)));
    }
    auto settings = parse_config_file(text.str());
    if (!settings) return usage_error(fmt::format("config file {}: {}", *config_path, settings.error().message));
    for (const ConfigSetting& setting : *settings) {
      const std::string origin = fmt::format("config file {} line {}", *config_path, setting.line);
      if (flags.switches.count(setting.flag) > 0) {
        if (!setting.boolean) return usage_error(fmt::format("{}: {} is a switch: true or false", origin, setting.flag));
        if (*setting.boolean) flags.switches.at(setting.flag)();
      } else if (flags.with_value.count(setting.flag) > 0) {
        if (Status applied = with_origin(flags.apply({setting.flag, setting.value}), origin); !applied) return applied;
      } else {
        return usage_error(fmt::format("{}: unknown setting '{}'", origin, setting.flag.substr(2)));
      }
    }
  }
  for (const auto& [flag, set] : flags.with_value) {
    const std::string name = environment_name(flag);
    if (auto value = environment(name)) {
      if (Status applied = with_origin(flags.apply({flag, *value}), "$" + name); !applied) return applied;
    }
  }
  for (const auto& [flag, set] : flags.switches) {
    const std::string name = environment_name(flag);
    const auto value = environment(name);
    if (!value) continue;
    if (*value == "true" || *value == "1") {
      set();
    } else if (*value != "false" && *value != "0" && !value->empty()) {
      return usage_error(fmt::format("${}: {} is a switch: true or false", name, flag));
    }
  }
  return flags.apply(command_line);
}

}  // namespace

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

/// The --store nats settings hold together: a node id, and three replicas
/// unless the operator accepted fewer.
Status check_nats_options(const ServeOptions& options) {
  if (options.store_kind != StoreKind::nats) return Status::success();
  if (options.nats.node_id.empty()) {
    return usage_error("--store nats needs --node-id (a name unique among the nodes: letters, digits, '-', '_')");
  }
  if (options.nats.replicas < 3 && !options.allow_unreplicated) {
    return usage_error(fmt::format(
        "--nats-replicas {}: with fewer than 3 replicas the loss of one NATS server loses acknowledged "
        "events; use 3 (the default) on a NATS cluster, or say --allow-unreplicated",
        options.nats.replicas));
  }
  if (options.nats.connection.user.empty() != options.nats.connection.password.empty()) {
    return usage_error("--nats-user and --nats-password go together");
  }
  if (!options.nats.connection.tls_cert_file.empty() && options.nats.connection.tls_key_file.empty()) {
    return usage_error("--nats-cert needs --nats-key");
  }
  return Status::success();
}

Result<ServeOptions> parse_serve_args(const std::vector<std::string>& args, const Environment& environment) {
  ServeOptions options;
  options.store.path = "./data";
  FlagTable flags;
  flags.with_value["--data"] = [&](const std::string& text) { return set_path(text, options.store.path); };
  http::ListenerOptions& operators = options.http.operators;
  http::ListenerOptions& agents = options.http.agents;
  flags.with_value["--listen"] = [&](const std::string& text) { return set_listen(text, operators); };
  flags.with_value["--agent-listen"] = [&](const std::string& text) {
    options.http.serve_agents = text != "off";
    return options.http.serve_agents ? set_listen(text, agents) : std::string();
  };
  flags.with_value["--heartbeat-timeout"] = [&](const std::string& text) {
    return set_duration(text, options.agents.heartbeat_timeout_ms);
  };
  flags.with_value["--agent-token-grace"] = [&](const std::string& text) {
    return set_duration(text, options.agents.agent_token_grace_ms);
  };
  flags.with_value["--healthy-within"] = [&](const std::string& text) {
    return set_duration(text, options.http.api.health.healthy_within_ms);
  };
  flags.with_value["--warning-within"] = [&](const std::string& text) {
    return set_duration(text, options.http.api.health.warning_within_ms);
  };
  flags.with_value["--rollout-tick"] = [&](const std::string& text) {
    return set_duration(text, options.rollout_tick_ms);
  };
  flags.with_value["--webhook-retry-for"] = [&](const std::string& text) {
    return set_duration(text, options.webhook_retry_for_ms);
  };
  flags.with_value["--durability"] = [&](const std::string& text) {
    if (text == "fsync")
      options.store.durability = Durability::fsync;
    else if (text == "wal")
      options.store.durability = Durability::wal;
    else
      return std::string("must be fsync or wal");
    return std::string();
  };
  flags.with_value["--http-threads"] = [&](const std::string& text) {
    std::string problem = set_count(text, operators.threads, 256);
    agents.threads = operators.threads;
    return problem;
  };
  flags.with_value["--log-level"] = [&](const std::string& text) {
    static const std::map<std::string, log::Level> kLevels = {{"debug", log::Level::debug},
                                                              {"info", log::Level::info},
                                                              {"warn", log::Level::warn},
                                                              {"error", log::Level::error}};
    const auto found = kLevels.find(text);
    if (found == kLevels.end()) return std::string("must be debug, info, warn or error");
    options.log_level = found->second;
    return std::string();
  };
  flags.with_value["--tls-cert"] = [&](const std::string& text) {
    std::string problem = set_path(text, operators.tls_cert_path);
    agents.tls_cert_path = operators.tls_cert_path;
    return problem;
  };
  flags.with_value["--tls-key"] = [&](const std::string& text) {
    std::string problem = set_path(text, operators.tls_key_path);
    agents.tls_key_path = operators.tls_key_path;
    return problem;
  };
  flags.with_value["--auth-failures-per-minute"] = [&](const std::string& text) {
    std::size_t count = 0;
    std::string problem = set_count(text, count, 1'000'000);
    if (problem.empty()) options.http.api.auth_throttle.max_failures = static_cast<std::uint32_t>(count);
    return problem;
  };
  // Limits the two listeners share unless an --agent- flag sets the agents' own.
  const auto both = [&](auto member, auto set) {
    return [&, member, set](const std::string& text) {
      std::string problem = set(text, operators.limits.*member);
      agents.limits.*member = operators.limits.*member;
      return problem;
    };
  };
  const auto duration = [](const std::string& text, TimeMs& out) {
    std::string problem = set_duration(text, out);
    return problem.empty() && out > 3600 * 1000 ? std::string("must be at most 1h") : problem;
  };
  const auto count = [](std::size_t max_value) {
    return [max_value](const std::string& text, std::size_t& out) { return set_count(text, out, max_value); };
  };
  using Limits = http::ListenerLimits;
  flags.with_value["--io-timeout"] = both(&Limits::io_timeout_ms, duration);
  flags.with_value["--keep-alive-timeout"] = both(&Limits::idle_timeout_ms, duration);
  flags.with_value["--websocket-idle-timeout"] = both(&Limits::websocket_idle_timeout_ms, duration);
  flags.with_value["--max-body-bytes"] = both(&Limits::max_body_bytes, count(std::size_t{1} << 30));
  flags.with_value["--max-config-bytes"] = [&](const std::string& text) {
    return set_count(text, options.http.api.max_config_bytes, std::size_t{1} << 30);
  };
  flags.with_value["--opamp-max-message-bytes"] = [&](const std::string& text) {
    return set_count(text, options.http.api.opamp_max_message_bytes, std::size_t{1} << 30);
  };
  flags.with_value["--max-header-bytes"] = both(&Limits::max_header_bytes, count(1 << 20));
  flags.with_value["--max-header-fields"] = both(&Limits::max_header_fields, count(10'000));
  // The agents' own limits win over the shared flags, in any order.
  std::optional<std::size_t> agent_max_body_bytes;
  flags.with_value["--agent-max-body-bytes"] = [&](const std::string& text) {
    std::size_t value = 0;
    std::string problem = set_count(text, value, std::size_t{1} << 30);
    agent_max_body_bytes = value;
    return problem;
  };
  flags.with_value["--max-connections-per-address"] = [&](const std::string& text) {
    return set_count(text, operators.limits.max_connections_per_address, 1'000'000);
  };
  flags.with_value["--agent-max-connections-per-address"] = [&](const std::string& text) {
    return set_count(text, agents.limits.max_connections_per_address, 1'000'000);
  };
  flags.with_value["--max-pending-appends"] = [&](const std::string& text) {
    return set_count(text, options.store.store.max_pending_appends, 100'000'000);
  };
  flags.with_value["--max-agent-queue"] = [&](const std::string& text) {
    return set_count(text, options.agents.max_queued_commands, 1'000'000);
  };
  flags.with_value["--snapshot-interval"] = [&](const std::string& text) {
    return set_duration(text, options.snapshot_interval_ms);
  };
  flags.with_value["--metrics-history"] = [&](const std::string& text) {
    if (text != "on" && text != "off") return std::string("must be on or off");
    options.metrics_history = text == "on";
    return std::string();
  };
  flags.with_value["--metrics-raw-retention"] = [&](const std::string& text) {
    return set_duration(text, options.metrics.raw_retention_ms);
  };
  flags.with_value["--metrics-1m-retention"] = [&](const std::string& text) {
    return set_duration(text, options.metrics.minute_retention_ms);
  };
  flags.with_value["--metrics-1h-retention"] = [&](const std::string& text) {
    return set_duration(text, options.metrics.hour_retention_ms);
  };
  flags.with_value["--metrics-1d-retention"] = [&](const std::string& text) {
    return set_duration(text, options.metrics.day_retention_ms);
  };
  flags.with_value["--store"] = [&](const std::string& text) {
    if (text != "rocksdb" && text != "nats") return std::string("must be rocksdb or nats");
    options.store_kind = text == "nats" ? StoreKind::nats : StoreKind::rocksdb;
    return std::string();
  };
  NatsConnectOptions& nats = options.nats.connection;
  flags.with_value["--nats-url"] = [&](const std::string& text) { return set_path(text, nats.url); };
  flags.with_value["--node-id"] = [&](const std::string& text) { return set_path(text, options.nats.node_id); };
  flags.with_value["--nats-stream"] = [&](const std::string& text) { return set_path(text, options.nats.stream); };
  flags.with_value["--nats-replicas"] = [&](const std::string& text) {
    std::size_t replicas = 0;
    std::string problem = set_count(text, replicas, 5);
    options.nats.replicas = static_cast<int>(replicas);
    return problem.empty() && replicas == 0 ? std::string("must be 1 to 5") : problem;
  };
  flags.with_value["--nats-wait"] = [&](const std::string& text) {
    TimeMs wait_ms = 0;
    std::string problem = set_duration(text, wait_ms);
    nats.connect_wait = std::chrono::milliseconds(wait_ms);
    return problem;
  };
  flags.with_value["--nats-user"] = [&](const std::string& text) { return set_path(text, nats.user); };
  flags.with_value["--nats-password"] = [&](const std::string& text) { return set_path(text, nats.password); };
  flags.with_value["--nats-token"] = [&](const std::string& text) { return set_path(text, nats.token); };
  flags.with_value["--nats-creds"] = [&](const std::string& text) { return set_path(text, nats.creds_file); };
  flags.with_value["--nats-ca"] = [&](const std::string& text) { return set_path(text, nats.tls_ca_file); };
  flags.with_value["--nats-cert"] = [&](const std::string& text) { return set_path(text, nats.tls_cert_file); };
  flags.with_value["--nats-key"] = [&](const std::string& text) { return set_path(text, nats.tls_key_file); };
  flags.switches["--allow-unreplicated"] = [&] { options.allow_unreplicated = true; };
  flags.with_value["--advertise-host"] = [&](const std::string& text) { return set_path(text, options.advertise_host); };
  flags.with_value["--lease-period"] = [&](const std::string& text) {
    std::string problem = set_duration(text, options.lease_period_ms);
    return problem.empty() && options.lease_period_ms < 500 ? std::string("must be at least 500ms") : problem;
  };
  flags.switches["--metrics-require-key"] = [&] { options.http.api.metrics_require_key = true; };
  flags.switches["--enable-test-hooks"] = [&] { options.enable_test_hooks = true; };
  flags.switches["--test-manual-clock"] = [&] { options.test_manual_clock = true; };
  flags.with_value["--test-sync-delay-ms"] = [&](const std::string& text) {
    return set_count(text, options.test_sync_delay_ms, 10'000);
  };
  flags.with_value["--test-sync-ledger"] = [&](const std::string& text) {
    return set_path(text, options.test_sync_ledger);
  };
  flags.with_value["--test-fail-writes-while"] = [&](const std::string& text) {
    return set_path(text, options.test_fail_writes_while);
  };
  if (Status applied = apply_layers(flags, args, environment); !applied) return applied.error();
  if (agent_max_body_bytes) agents.limits.max_body_bytes = *agent_max_body_bytes;
  if (!options.enable_test_hooks && !(options.test_sync_ledger.empty() && options.test_fail_writes_while.empty() &&
                                      options.test_sync_delay_ms == 0 && !options.test_manual_clock)) {
    return usage_error(
        "--test-sync-ledger, --test-fail-writes-while, --test-sync-delay-ms and --test-manual-clock need "
        "--enable-test-hooks");
  }
  if (operators.tls_cert_path.empty() != operators.tls_key_path.empty()) {
    return usage_error("--tls-cert and --tls-key go together");
  }
  if (Status nats_valid = check_nats_options(options); !nats_valid) return nats_valid.error();
  if (options.http.api.health.healthy_within_ms > options.http.api.health.warning_within_ms) {
    return usage_error("--healthy-within must not be longer than --warning-within");
  }
  if (options.metrics.raw_retention_ms > options.metrics.minute_retention_ms ||
      options.metrics.minute_retention_ms > options.metrics.hour_retention_ms ||
      options.metrics.hour_retention_ms > options.metrics.day_retention_ms) {
    return usage_error(
        "--metrics-raw-retention, --metrics-1m-retention, --metrics-1h-retention and --metrics-1d-retention "
        "must not shrink in that order");
  }
  return options;
}

Result<ReplayOptions> parse_replay_args(const std::vector<std::string>& args) {
  ReplayOptions options;
  FlagTable flags;
  flags.with_value["--data"] = [&](const std::string& text) { return set_path(text, options.data_dir); };
  flags.with_value["--agent"] = [&](const std::string& text) {
    if (!http::is_valid_agent_id(text)) return std::string("must be an agent id (a lowercase UUID)");
    options.agent_id = text;
    return std::string();
  };
  flags.with_value["--instance"] = [&](const std::string& text) {
    if (!http::is_valid_instance_id(text))
      return std::string("must be 1 to 128 characters of [A-Za-z0-9._:-]");
    options.instance_id = text;
    return std::string();
  };
  flags.with_value["--org"] = [&](const std::string& text) { return set_org(text, options.org); };
  flags.with_value["--type"] = [&](const std::string& text) {
    options.type = text;
    return std::string();
  };
  flags.with_value["--report-type"] = [&](const std::string& text) {
    if (!http::is_valid_type_name(text)) {
      return std::string("must be a report type: 1 to 64 characters of [a-z0-9_.-], starting with a letter");
    }
    options.report_type = text;
    return std::string();
  };
  flags.with_value["--since"] = [&](const std::string& text) { return set_time(text, options.since_ms); };
  flags.with_value["--until"] = [&](const std::string& text) { return set_time(text, options.until_ms); };
  flags.with_value["--at"] = [&](const std::string& text) { return set_time(text, options.at_ms); };
  flags.with_value["--format"] = [&](const std::string& text) {
    if (text == "jsonl")
      options.format = ReplayFormat::jsonl;
    else if (text == "table")
      options.format = ReplayFormat::table;
    else
      return std::string("must be jsonl or table");
    return std::string();
  };
  flags.switches["--progress"] = [&] { options.progress = true; };
  if (Status applied = flags.apply(args); !applied) return applied.error();
  if (options.agent_id && options.instance_id) return usage_error("give --agent or --instance, not both");
  if (options.org && !options.instance_id) return usage_error("--org picks among the agents of one --instance");
  if (options.report_type && options.type && *options.type != AgentReported::kType.name) {
    return usage_error("--report-type selects AgentReported events: give no other --type");
  }
  if (options.at_ms && !options.agent_id && !options.instance_id) {
    return usage_error("--at needs --agent or --instance");
  }
  return options;
}

namespace {

// --role and --org, as keys and users take them.
void add_role_and_org_flags(FlagTable& flags, Role& role_out, bool& role_given, std::string& org_out) {
  flags.with_value["--role"] = [&](const std::string& text) {
    const auto role = parse_role(text);
    if (!role) return std::string("must be viewer, operator or admin");
    role_out = *role;
    role_given = true;
    return std::string();
  };
  flags.with_value["--org"] = [&](const std::string& text) {
    if (text != kAllOrgs && !http::is_valid_org(text)) {
      return std::string("must be 1 to 128 characters of [A-Za-z0-9._-], or * for every organization");
    }
    org_out = text;
    return std::string();
  };
}

}  // namespace

Result<KeysCreateOptions> parse_keys_create_args(const std::vector<std::string>& args) {
  KeysCreateOptions options;
  bool role_given = false;
  FlagTable flags;
  flags.with_value["--data"] = [&](const std::string& text) { return set_path(text, options.data_dir); };
  flags.with_value["--name"] = [&](const std::string& text) {
    if (text.empty() || text.size() > 128) return std::string("must be 1 to 128 characters");
    options.name = text;
    return std::string();
  };
  add_role_and_org_flags(flags, options.role, role_given, options.org);
  if (Status applied = flags.apply(args); !applied) return applied.error();
  if (options.name.empty() || !role_given) return usage_error("keys create needs --name and --role");
  return options;
}

Result<UsersCreateOptions> parse_users_create_args(const std::vector<std::string>& args) {
  UsersCreateOptions options;
  bool role_given = false;
  FlagTable flags;
  flags.with_value["--data"] = [&](const std::string& text) { return set_path(text, options.data_dir); };
  flags.with_value["--username"] = [&](const std::string& text) {
    if (!is_valid_username(text)) {
      return std::string("must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
    }
    options.username = text;
    return std::string();
  };
  add_role_and_org_flags(flags, options.role, role_given, options.org);
  if (Status applied = flags.apply(args); !applied) return applied.error();
  if (options.username.empty() || !role_given) return usage_error("users create needs --username and --role");
  return options;
}

Result<BackupOptions> parse_backup_args(const std::vector<std::string>& args) {
  BackupOptions options;
  FlagTable flags;
  flags.with_value["--data"] = [&](const std::string& text) { return set_path(text, options.data_dir); };
  flags.with_value["--org"] = [&](const std::string& text) { return set_org(text, options.org); };
  flags.switches["--progress"] = [&] { options.progress = true; };
  if (Status applied = flags.apply(args); !applied) return applied.error();
  return options;
}

Result<RestoreCommandOptions> parse_restore_args(const std::vector<std::string>& args) {
  RestoreCommandOptions options;
  FlagTable flags;
  flags.with_value["--url"] = [&](const std::string& text) { return set_server_url(text, options.url); };
  flags.with_value["--key"] = [&](const std::string& text) { return set_path(text, options.key); };
  flags.with_value["--org"] = [&](const std::string& text) { return set_org(text, options.org); };
  flags.with_value["--ca-cert"] = [&](const std::string& text) { return set_path(text, options.ca_cert_path); };
  flags.switches["--dry-run"] = [&] { options.dry_run = true; };
  flags.switches["--progress"] = [&] { options.progress = true; };
  if (Status applied = flags.apply(args); !applied) return applied.error();
  if (options.url.empty() || options.key.empty()) return usage_error("restore needs --url and --key");
  return options;
}

std::optional<std::string> RemoteInvocation::value(const std::string& option) const {
  const auto found = values.find(option);
  if (found == values.end() || found->second.empty()) return std::nullopt;
  return found->second.back();
}

Result<RemoteInvocation> parse_remote_args(const RemoteCommandSpec& spec,
                                           const std::vector<std::string>& args,
                                           const Environment& environment) {
  RemoteInvocation invocation;
  FlagTable flags;
  flags.with_value["--server"] = [&](const std::string& text) {
    return set_server_url(text, invocation.client.server_url);
  };
  flags.with_value["--key"] = [&](const std::string& text) { return set_path(text, invocation.client.key); };
  flags.with_value["--ca-cert"] = [&](const std::string& text) {
    return set_path(text, invocation.client.ca_cert_path);
  };
  flags.with_value["--output"] = [&](const std::string& text) {
    if (text != "table" && text != "json") return std::string("must be table or json");
    invocation.output = text == "json" ? OutputFormat::json : OutputFormat::table;
    return std::string();
  };
  for (const std::string& option : spec.options) {
    flags.with_value[option] = [&invocation, option](const std::string& text) {
      if (invocation.values.count(option) > 0) return std::string("given more than once");
      invocation.values[option].push_back(text);
      return std::string();
    };
  }
  for (const std::string& option : spec.repeated_options) {
    flags.with_value[option] = [&invocation, option](const std::string& text) {
      invocation.values[option].push_back(text);
      return std::string();
    };
  }
  for (const std::string& name : spec.switches) {
    flags.switches[name] = [&invocation, name] { invocation.switches.insert(name); };
  }
  flags.positional = [&](const std::string& text) {
    if (invocation.arguments.size() == spec.arguments.size()) {
      return fmt::format("unexpected argument '{}'", text);
    }
    invocation.arguments.push_back(text);
    return std::string();
  };
  // The environment first, so that a flag given overrides it.
  for (const char* flag : {"--server", "--key"}) {
    const std::string name = environment_name(flag);
    if (auto value = environment(name); value && !value->empty()) {
      Status applied = with_origin(flags.apply({flag, *value}), "$" + name);
      if (!applied) return applied.error();
    }
  }
  if (Status applied = flags.apply(args); !applied) return applied.error();
  if (invocation.arguments.size() < spec.arguments.size()) {
    return usage_error(fmt::format("missing {}", spec.arguments[invocation.arguments.size()]));
  }
  return invocation;
}

const char* usage() {
  return R"(muster: a fleet control plane

Usage:
  muster serve  [--config FILE] [--data DIR] [--listen HOST:PORT] [--agent-listen HOST:PORT|off]
                [--heartbeat-timeout DURATION]
                [--durability fsync|wal] [--http-threads N] [--log-level LEVEL]
                [--healthy-within DURATION] [--warning-within DURATION] [--rollout-tick DURATION]
                [--webhook-retry-for DURATION]
                [--tls-cert FILE --tls-key FILE] [--auth-failures-per-minute N]
                [--agent-token-grace DURATION] [--max-pending-appends N] [--max-agent-queue N]
                [--io-timeout DURATION] [--keep-alive-timeout DURATION] [--max-body-bytes N]
                [--websocket-idle-timeout DURATION]
                [--agent-max-body-bytes N] [--max-header-bytes N] [--max-header-fields N]
                [--max-connections-per-address N] [--agent-max-connections-per-address N]
                [--snapshot-interval DURATION] [--max-config-bytes N] [--opamp-max-message-bytes N]
                [--metrics-history on|off] [--metrics-raw-retention DURATION] [--metrics-1m-retention DURATION]
                [--metrics-1h-retention DURATION] [--metrics-1d-retention DURATION]
                [--metrics-require-key]
                [--store rocksdb|nats --nats-url URLS --node-id ID [--nats-replicas N] [--nats-wait DURATION]
                 [--nats-stream NAME] [--nats-user USER --nats-password PASSWORD | --nats-token TOKEN]
                 [--nats-creds FILE] [--nats-ca FILE] [--nats-cert FILE --nats-key FILE]
                 [--allow-unreplicated] [--advertise-host HOST] [--lease-period DURATION]]
  muster replay [--data DIR] [--agent ID | --instance IID [--org ORG]] [--type TYPE]
                [--report-type TYPE] [--since RFC3339] [--until RFC3339] [--format jsonl|table]
                [--progress]
  muster replay [--data DIR] (--agent ID | --instance IID [--org ORG]) --at RFC3339
  muster keys create --data DIR --role viewer|operator|admin --name NAME [--org ORG|*]
  muster users create --data DIR --username NAME --role viewer|operator|admin [--org ORG|*] < PASSWORD
  muster backup [--data DIR] [--org ORG] [--progress] > FILE
  muster restore --url URL --key KEY [--org ORG] [--dry-run] [--ca-cert FILE] [--progress] < FILE
  muster version
  muster help

serve options (defaults in brackets):
  --config FILE              settings as `name = value` lines (a TOML subset; packaging/muster.toml);
                             also $MUSTER_CONFIG. Each flag is also an environment variable
                             (--heartbeat-timeout: MUSTER_HEARTBEAT_TIMEOUT). The command line wins
                             over the environment, which wins over the file
  --data DIR                 where the event log lives [./data]
  --listen HOST:PORT         operators' listener: the whole HTTP API; port 0 picks a free one
                             [127.0.0.1:8080]
  --agent-listen HOST:PORT   agents' listener: only the routes agents call (register, heartbeat,
                             token rotation, OpAMP at /v1/opamp, probes); off: agents use --listen
                             [127.0.0.1:4320]
  --heartbeat-timeout D      silence after which an agent is OFFLINE, e.g. 500ms, 30s, 2m [120s]
  --durability MODE          fsync: acknowledge after the log is fsynced (survives power loss);
                             wal: after the OS has it (survives a crash of muster only) [fsync]
  Several nodes (README, "Running several nodes"):
  --store KIND               rocksdb: the log is in --data, one node; nats: the log is a NATS
                             JetStream stream the nodes share, --data holds this node's replica [rocksdb]
  --nats-url URLS            NATS servers, comma-separated [nats://127.0.0.1:4222]
  --node-id ID               this node's name, unique among the nodes (letters, digits, '-', '_')
  --nats-replicas N          the stream's replicas; fewer than 3 needs --allow-unreplicated [3]
  --nats-wait D              keep trying to reach NATS at start this long [0: fail at once]
  --nats-stream NAME         the JetStream stream holding the log [MUSTER]
  --nats-user, --nats-password, --nats-token, --nats-creds FILE  NATS credentials (prefer the
                             environment for secrets: MUSTER_NATS_PASSWORD, MUSTER_NATS_TOKEN)
  --nats-ca FILE, --nats-cert FILE, --nats-key FILE  TLS to NATS
  --advertise-host HOST      where the other nodes reach this one's listeners [the --listen host]
  --lease-period D           a dead leader is replaced within this (plus a fifth of it) [15s]
  --http-threads N           event loops per listener; each serves any number of connections
                             [the number of cores]
  --log-level LEVEL          debug, info, warn or error [info]
  --healthy-within D         an agent seen within D is "healthy" (score 100) [60s]
  --warning-within D         within D "warning" (50), beyond "unhealthy" (20) [300s]
  --rollout-tick D           how often each running rollout is measured and may advance [1s]
  --webhook-retry-for D      how long a notification (webhook or email) is retried, backing
                             off from 1s to 5m between attempts, before it is abandoned [1h]
  --tls-cert FILE            PEM certificate (chain); with --tls-key, serve HTTPS [plain HTTP]
  --tls-key FILE             PEM private key of --tls-cert
  --auth-failures-per-minute N  failed authentications one address may make per minute
                             before it is refused with 429 [20]
  --agent-token-grace D      after a rotation the old agent token still works this long [5m]
  Limits, per listener (the --agent- flags set the agents' listener's own):
  --io-timeout D             receiving a request's headers, then its body, then writing the answer
                             may each take this long; a slower client is dropped [10s]
  --keep-alive-timeout D     idle keep-alive connections are closed after this long [5s]
  --websocket-idle-timeout D  a WebSocket that receives nothing (not even the pong to the ping
                             sent after half of D) is closed after this long [90s]
  --max-body-bytes N         largest request body, however framed; larger answer 413 [1048576]
  --agent-max-body-bytes N   the same for the agents' listener [--max-body-bytes]
  --max-header-bytes N       request line and headers together; more answer 431 [16384]
  --max-header-fields N      header fields per request; more answer 431 [100]
  --max-connections-per-address N  open connections one address may hold on the operators'
                             listener; beyond, 503 and closed [10000]
  --agent-max-connections-per-address N  the same on the agents' listener [10000]
  --max-pending-appends N    writes queued for the log at most; beyond, 503 STORE_OVERLOADED [65536]
  --max-agent-queue N        requests queued at one agent at most; beyond, 503 AGENT_BUSY [64]
  --snapshot-interval D      how often the read models are snapshotted, so a restart folds only
                             the log written since [30s]
  --max-config-bytes N       file bodies of one config version, in total, at most; more answer
                             400. A request carries them JSON-escaped: raise --max-body-bytes
                             with it [1048576]
  --opamp-max-message-bytes N  an OpAMP message (decompressed) at most, on either listener
                             and either transport; more answer 413 (HTTP) or close the
                             WebSocket with 1009 [4194304]
  Metrics history (heartbeats' metrics; each level kept this long, coarser ones at least as long):
  --metrics-history on|off   off: keep only each agent's latest metrics, store nothing over time [on]
  --metrics-raw-retention D  every point as heard [24h]
  --metrics-1m-retention D   1-minute aggregates (min, max, sum, count, last) [7d]
  --metrics-1h-retention D   1-hour aggregates [90d]
  --metrics-1d-retention D   1-day aggregates [365d]
  --metrics-require-key      GET /metrics (muster's own metrics for Prometheus) needs a viewer
                             key [open, like the probes]

keys create --data prints a new operator API key (only this once) for a stopped server's
data directory; on a running server use `muster keys create` without --data (below).
A new data directory gets an admin key in DIR/admin.key (mode 0600).
users create --data makes an operator account who signs in with a password (the dashboard,
POST /api/v1/auth/login) in a stopped server's data directory; the password is read from
stdin (a terminal asks for it without echo). On a running server: POST /api/v1/users.

backup prints one organization's configuration [default] (configs with every
version, groups, agents' own assignments) as a JSON document, read from a stopped
or running server's data directory (beside a running one, as of when it starts).
restore sends such a document on stdin to a running server (POST /api/v1/restore
with an admin key) and prints the answer; it applies the document as new versions
and changes, never rewriting history, and --dry-run only says what would change.
The server takes bodies up to its --max-body-bytes [1048576]: start it with more
for a larger document (up to 67108864). The exit code is 1 on an error answer.

replay prints events (one JSON object per line, or a table) from a stopped or
running server's data directory; with --at it prints the agent as it was then.
An instance id registered in several organizations needs --org to say which.
--report-type prints only the agents' reports (AgentReported) of that type.
Durations: a whole number with ms, s, m, h or d. Times: RFC 3339, e.g. 2026-11-22T05:51:00Z.
)";
}

}  // namespace muster::app
