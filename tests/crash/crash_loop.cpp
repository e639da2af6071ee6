/// muster_crashloop: kill -9 (and power loss) at random moments under a mixed
/// concurrent load, then check the restarted server against what it acknowledged.
///
///   muster_crashloop [--cycles N] [--power-loss] [--durability fsync|wal]
///                    [--clients N] [--seed N] [--data DIR]
///
/// Each cycle starts the real `muster serve` on the same data dir, checks it,
/// runs registrations, re-registrations, heartbeats with status changes, token
/// rotations, deregistrations, decommissions, config reports and the agents'
/// side of commands (fetches, acknowledgements, results) from several
/// clients, and configs, groups, assignments, commands (normal and emergency,
/// some with an idempotency key used again) and cancels from one more, and
/// SIGKILLs the server at a random moment. With --power-loss it then cuts
/// every file back to what was last synced (eventstore/file_hooks.hpp), as a
/// power cut would. The server snapshots its read models every 100 ms, so
/// kills land during snapshots too and restarts start from one. The check
/// after each restart:
///   - the log holds positions 1..head once each, every stream versions 1..n;
///   - every acknowledged write is in the log at the position its answer gave,
///     in its agent's (or config's, group's, command's) stream, and of the
///     event type the write makes (registrations and rotations end with
///     AgentTokenIssued; a command queued is CommandQueued, a fetch's delivery
///     CommandDelivered...);
///   - no write is half-applied: every AgentRegistered is followed, in the same
///     batch, by its AgentTokenIssued;
///   - every agent served equals the fold of its stream (the projection is
///     compared with a fold done here with the server's own `apply`), and
///     the counts in /stats equal the folded fleet's;
///   - a heartbeat's answer (the agent's actor) agrees with the fold;
///   - every agent's configuration served (config_version, desired hash,
///     config status) and the /stats config counts equal a config model
///     folded here from the log;
///   - every command's stream folds with the command's own `apply`, each
///     command served (state, deliveries, result, its events' positions)
///     equals that fold, and each live agent's `commands_pending` in a
///     heartbeat's answer is the number of its commands the fold has queued.
/// Prints one JSON line per cycle and a summary; exits 1 on the first violation.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/agent/agent_state.hpp"
#include "actors/command/command_state.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/time_format.hpp"
#include "eventstore/durable_head.hpp"
#include "eventstore/file_hooks.hpp"
#include "projections/config_model.hpp"
#include "tests/support/muster_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using muster::testing::HttpAnswer;
using muster::testing::MusterServer;
using nlohmann::json;

struct Options {
  int cycles = 5;
  bool power_loss = false;
  std::string durability = "fsync";
  int clients = 8;
  std::uint64_t seed = std::random_device{}();
  std::string data_dir;  ///< Empty: a temporary one.
};

/// An acknowledged write: what the server answered.
struct Ack {
  std::string op;
  std::string agent_id;  ///< Empty for a config's, group's or command's write:
  std::string stream;    ///< then the stream the write went to.
  std::uint64_t position = 0;
  std::string event_type;  ///< The type the event at `position` must have; empty: any.
};

/// What the clients learned, shared across cycles.
struct Model {
  std::mutex mutex;
  std::vector<Ack> acks;
  std::map<std::string, std::string> token_by_agent;     ///< The latest token an answer gave.
  std::map<std::string, std::string> agent_by_instance;  ///< Instances registered at least once.
  std::set<std::string> decommissioned;
  std::vector<std::string> agents;  ///< Every agent registered, for operators' assignments.
  std::vector<std::string> commands;  ///< Every command queued, for operators' cancels.
  /// (agent id, command id) of commands delivered to their agent, not yet
  /// reported on to the end: kept across restarts, so an agent may report
  /// again what a killed server may or may not have recorded.
  std::vector<std::pair<std::string, std::string>> delivered;

  void acknowledge(Ack ack) {
    std::lock_guard<std::mutex> lock(mutex);
    acks.push_back(std::move(ack));
  }
};

// Thrown to main, so that the server being checked and the temp dir are
// cleaned up on the way (std::exit left the server running).
struct Violation {
  std::string what;
};

[[noreturn]] void violation(const std::string& what) {
  throw Violation{what};
}

httplib::Headers bearer(const std::string& credential) {
  return {{"Authorization", "Bearer " + credential}, {"Content-Type", "application/json"}};
}

// The stream of the command an answer shows.
std::string command_stream_of(const json& command) {
  return muster::command_stream(command.at("org").get<std::string>(),
                                command.at("command_id").get<std::string>());
}

// An agent's side of commands: a fetch without waiting (each command it
// delivers is an acknowledged write), or an acknowledgement or a result for
// a command delivered earlier, maybe before a restart. False when the
// server was killed.
bool work_on_commands(const MusterServer& server, Model& model, std::mt19937_64& random,
                      const std::string& agent_id, const std::string& token,
                      std::atomic<std::size_t>& requests) {
  std::pair<std::string, std::string> earlier;  // (agent id, command id)
  std::string earlier_token;
  {
    std::lock_guard<std::mutex> lock(model.mutex);
    if (!model.delivered.empty() && random() % 2 == 0) {
      earlier = model.delivered[random() % model.delivered.size()];
      earlier_token = model.token_by_agent[earlier.first];
    }
  }
  if (earlier.first.empty()) {
    const HttpAnswer fetched =
        server.send("GET", "/api/v1/agents/" + agent_id + "/commands", "", bearer(token));
    ++requests;
    if (fetched.status == 0) return false;
    if (fetched.status != 200) return true;  // refused (e.g. deregistered): nothing to check
    for (const json& command : fetched.json.at("commands")) {
      model.acknowledge({"deliver command", "", command_stream_of(command),
                         command.at("position").get<std::uint64_t>(), "CommandDelivered"});
      std::lock_guard<std::mutex> lock(model.mutex);
      model.delivered.emplace_back(agent_id, command.at("command_id").get<std::string>());
    }
    return true;
  }
  const bool result = random() % 2 == 0;
  std::string body;
  if (result) {
    body = json{{"status", random() % 3 == 0 ? "failed" : "succeeded"},
                {"exit_code", random() % 3},
                {"output", fmt::format("run {}", random())}}
               .dump();
  }
  const HttpAnswer answer = server.send(
      "POST",
      "/api/v1/agents/" + earlier.first + "/commands/" + earlier.second + (result ? "/result" : "/ack"), body,
      bearer(earlier_token));
  ++requests;
  if (answer.status == 0) return false;  // killed: kept, to report again after the restart
  if (answer.status == 200) {
    model.acknowledge({result ? "command result" : "command ack", "", command_stream_of(answer.json),
                       answer.json.at("position").get<std::uint64_t>(),
                       result ? "CommandCompleted" : "CommandAcknowledged"});
  }
  // An acknowledged command stays, for its result; one that ended or was
  // refused (finished, cancelled, its agent gone or its token replaced) is done.
  if (result || answer.status != 200) {
    std::lock_guard<std::mutex> lock(model.mutex);
    const auto found = std::find(model.delivered.begin(), model.delivered.end(), earlier);
    if (found != model.delivered.end()) model.delivered.erase(found);
  }
  return true;
}

// One client: random operations on its own instances until a request fails
// to connect (the server was killed) or `stop` is set.
void run_client(const MusterServer& server, Model& model, int client, std::uint64_t seed,
                const std::atomic<bool>& stop, std::atomic<std::size_t>& requests) {
  std::mt19937_64 random(seed);
  const std::string enrollment = server.enrollment_token();
  // Twelve slots of instances per client; a decommissioned instance is
  // retired for good, so its slot moves on to a new one.
  std::vector<int> generation(12, 0);
  while (!stop) {
    const std::size_t slot = random() % generation.size();
    const std::string instance = fmt::format("c{}-i{}-g{}", client, slot, generation[slot]);
    std::string agent_id, token;
    {
      std::lock_guard<std::mutex> lock(model.mutex);
      const auto known = model.agent_by_instance.find(instance);
      if (known != model.agent_by_instance.end()) {
        agent_id = known->second;
        token = model.token_by_agent[agent_id];
        if (model.decommissioned.count(agent_id) > 0) {
          ++generation[slot];
          continue;
        }
      }
    }
    const int roll = static_cast<int>(random() % 100);
    std::string op;
    HttpAnswer answer;
    if (agent_id.empty() || roll < 25) {
      op = "register";
      const json body = {{"instance_id", instance},
                         {"version", fmt::format("1.{}", random() % 3)},
                         {"labels", {{"client", std::to_string(client)}}}};
      answer = server.send("POST", "/api/v1/agents/register", body.dump(), bearer(enrollment));
    } else if (roll < 58) {
      op = "heartbeat";
      const json body = {{"status", random() % 4 == 0 ? "degraded" : "online"}};
      answer = server.send("POST", "/api/v1/agents/" + agent_id + "/heartbeat", body.dump(), bearer(token));
    } else if (roll < 68) {
      if (!work_on_commands(server, model, random, agent_id, token, requests)) return;
      continue;
    } else if (roll < 75) {
      op = "report";
      const HttpAnswer desired =
          server.send("GET", "/api/v1/agents/" + agent_id + "/config", "", bearer(token));
      if (desired.status == 0) return;  // killed
      const std::string hash = desired.status == 200 ? desired.json.value("config_hash", "") : "";
      if (hash.empty()) continue;
      const json body = {{"config_hash", hash}, {"status", random() % 5 == 0 ? "failed" : "applied"}};
      answer = server.send("POST", "/api/v1/agents/" + agent_id + "/config/status", body.dump(), bearer(token));
    } else if (roll < 85) {
      op = "rotate";
      answer = server.send("POST", "/api/v1/agents/" + agent_id + "/token/rotate", "", bearer(token));
    } else if (roll < 97) {
      op = "deregister";
      answer = server.send("DELETE", "/api/v1/agents/" + agent_id, "", bearer(server.admin_key()));
    } else {
      op = "decommission";
      answer =
          server.send("POST", "/api/v1/agents/" + agent_id + "/decommission", "", bearer(server.admin_key()));
    }
    ++requests;
    if (answer.status == 0) return;  // killed
    if (answer.status != 200 && answer.status != 201)
      continue;  // refused (e.g. deregistered): nothing to check
    const std::string answered_id = answer.json.at("agent_id");
    // A report that repeats the last one appends nothing and answers no position.
    if (answer.json.contains("position")) {
      const bool ends_with_token = op == "register" || op == "rotate";
      model.acknowledge({op, answered_id, "", answer.json.at("position").get<std::uint64_t>(),
                         ends_with_token ? "AgentTokenIssued" : ""});
    }
    std::lock_guard<std::mutex> lock(model.mutex);
    if (answer.json.contains("agent_token"))
      model.token_by_agent[answered_id] = answer.json.at("agent_token");
    if (op == "register" && model.agent_by_instance.count(instance) == 0) model.agents.push_back(answered_id);
    if (op == "register") model.agent_by_instance[instance] = answered_id;
    if (op == "decommission") model.decommissioned.insert(answered_id);
  }
}

// The operator: configs, new versions, groups by the clients' labels, group
// and agent assignments, commands to known agents and cancels, until a
// request fails to connect or `stop` is set.
void run_operator(const MusterServer& server, Model& model, int clients, std::uint64_t seed,
                  const std::atomic<bool>& stop, std::atomic<std::size_t>& requests) {
  std::mt19937_64 random(seed);
  const auto headers = bearer(server.admin_key());
  while (!stop) {
    const std::string config = fmt::format("cfg-{}", random() % 3);
    const std::string group = fmt::format("g-{}", random() % clients);
    const int roll = static_cast<int>(random() % 100);
    std::string op;
    std::string stream;
    HttpAnswer answer;
    if (roll < 20) {
      op = "create config";
      stream = "config:default/" + config;
      const json files = {{"c.yaml", {{"content_type", "application/yaml"}, {"body", "v0\n"}}}};
      answer = server.send("POST", "/api/v1/configs", json{{"name", config}, {"files", files}}.dump(), headers);
    } else if (roll < 36) {
      op = "config version";
      stream = "config:default/" + config;
      const json files = {{"c.yaml", {{"content_type", "application/yaml"}, {"body", fmt::format("v{}\n", random())}}}};
      answer = server.send("PUT", "/api/v1/configs/" + config, json{{"files", files}}.dump(), headers);
    } else if (roll < 48) {
      op = "create group";
      stream = "group:default/" + group;
      const json body = {{"name", group}, {"selector", {{"client", group.substr(2)}}}, {"priority", random() % 3}};
      answer = server.send("POST", "/api/v1/groups", body.dump(), headers);
    } else if (roll < 68) {
      op = "group assignment";
      stream = "group:default/" + group;
      const json body = {{"config", config}, {"settings", {{"n", random() % 4}}}};
      answer = server.send("PUT", "/api/v1/groups/" + group + "/assignment", body.dump(), headers);
    } else if (roll < 76) {
      op = "agent assignment";
      std::string agent_id;
      {
        std::lock_guard<std::mutex> lock(model.mutex);
        if (model.agents.empty()) continue;
        agent_id = model.agents[random() % model.agents.size()];
      }
      stream = "agent:" + agent_id;
      const json body = random() % 3 == 0 ? json::object() : json{{"config", config}};
      answer = server.send("PUT", "/api/v1/agents/" + agent_id + "/assignment", body.dump(), headers);
    } else if (roll < 96) {
      op = "queue command";
      std::string agent_id;
      {
        std::lock_guard<std::mutex> lock(model.mutex);
        if (model.agents.empty()) continue;
        agent_id = model.agents[random() % model.agents.size()];
      }
      static const char* const kTypes[] = {"restart", "upgrade", "request_diagnostics", "collect.logs"};
      json body = {{"type", kTypes[random() % 4]},
                   {"params", {{"n", random() % 4}}},
                   {"priority", random() % 4 == 0 ? "emergency" : "normal"}};
      if (random() % 3 == 0) {
        // A key used again on purpose: the same request meets the command it
        // queued (200), other params with it are refused (409).
        const std::uint64_t key = random() % 3;
        body["idempotency_key"] = fmt::format("key-{}", key);
        body["type"] = kTypes[key];
        body["params"] = {{"n", random() % 8 == 0 ? 99 : key}};
      }
      answer = server.send("POST", "/api/v1/agents/" + agent_id + "/commands", body.dump(), headers);
    } else {
      op = "cancel command";
      std::string command_id;
      {
        std::lock_guard<std::mutex> lock(model.mutex);
        if (model.commands.empty()) continue;
        command_id = model.commands[random() % model.commands.size()];
      }
      answer = server.send("POST", "/api/v1/commands/" + command_id + "/cancel", "", headers);
    }
    ++requests;
    if (answer.status == 0) return;  // killed
    // Refusals (a config or group that exists, or not yet; a retired agent; a
    // command that ended) change nothing to check.
    if ((answer.status != 200 && answer.status != 201) || !answer.json.contains("position")) continue;
    std::string event_type;
    if (op == "queue command" || op == "cancel command") {
      stream = command_stream_of(answer.json);
      // 200 to a queue: a key used again met its command, whatever it did since.
      if (op == "cancel command") event_type = "CommandCancelled";
      if (answer.status == 201) {
        event_type = "CommandQueued";
        std::lock_guard<std::mutex> lock(model.mutex);
        model.commands.push_back(answer.json.at("command_id"));
      }
    }
    model.acknowledge({op, "", stream, answer.json.at("position").get<std::uint64_t>(), event_type});
  }
}

std::vector<json> read_log(const MusterServer& server) {
  std::vector<json> log;
  for (std::uint64_t from = 1;;) {
    const HttpAnswer page = server.get(fmt::format("/api/v1/events?limit=1000&from_position={}", from));
    if (page.status != 200) violation("cannot read the log: " + page.body);
    for (const json& event : page.json.at("events")) log.push_back(event);
    if (page.json.at("next_from_position").is_null()) return log;
    from = page.json.at("next_from_position");
  }
}

muster::Event to_event(const json& item) {
  muster::Event event;
  event.position = item.at("position");
  event.stream = item.at("stream");
  event.version = item.at("version");
  event.type = item.at("type");
  event.time_ms = *muster::parse_rfc3339(item.at("time").get<std::string>());
  event.schema_version = item.at("schema_version");
  // /events serves no digest of a secret, and the fold of AgentTokenIssued
  // requires one: stand in zeros. No check here compares a token's digest
  // (none is served), only what the fold derives besides it.
  json data = item.at("data");
  if (event.type == "AgentTokenIssued" && data.is_object() && !data.contains("token_sha256")) {
    data["token_sha256"] = std::string(64, '0');
  }
  event.data = data.dump();
  event.meta = item.at("meta").dump();
  return event;
}

struct CheckCounts {
  std::size_t events = 0;
  std::size_t acks = 0;
  std::size_t agents = 0;
  std::size_t commands = 0;
  json commands_by_state = json::object();  ///< How far the commands checked went.
};

// The command as GET /api/v1/commands/{id} must show it, by the fold:
// what it is, how far it went, how it ended, and which log positions made it.
json expected_command_view(const muster::CommandRecord& record, const std::vector<std::uint64_t>& positions) {
  json result = nullptr;
  if (record.result) {
    result = {{"status", record.result->succeeded ? "succeeded" : "failed"},
              {"exit_code", record.result->exit_code ? json(*record.result->exit_code) : json(nullptr)},
              {"output", record.result->output},
              {"output_truncated", record.result->output_truncated}};
  }
  return {{"agent_id", record.agent_id.to_string()},
          {"type", record.type},
          {"params", record.params},
          {"priority", muster::to_string(record.priority)},
          {"state", muster::to_string(record.state)},
          {"deliveries", record.deliveries},
          {"result", std::move(result)},
          {"position", record.last_position},
          {"event_positions", positions}};
}

// The same fields of a served command.
json served_command_view(const json& served) {
  json positions = json::array();
  for (const json& event : served.at("events")) positions.push_back(event.at("position"));
  json view = json::object();
  for (const char* field :
       {"agent_id", "type", "params", "priority", "state", "deliveries", "result", "position"}) {
    view[field] = served.at(field);
  }
  view["event_positions"] = std::move(positions);
  return view;
}

CheckCounts check(const MusterServer& server, Model& model) {
  const std::vector<json> log = read_log(server);
  CheckCounts counts;
  counts.events = log.size();
  std::map<std::string, std::uint64_t> versions;
  std::map<std::string, muster::AgentState> folded;
  std::map<std::string, muster::CommandRecord> folded_commands;         ///< By stream.
  std::map<std::string, std::vector<std::uint64_t>> command_positions;  ///< By stream.
  std::vector<muster::Event> events;
  for (std::size_t index = 0; index < log.size(); ++index) {
    events.push_back(to_event(log[index]));
    const json& event = log[index];
    if (event.at("position") != index + 1)
      violation(fmt::format("position {} holds {}", index + 1, event.dump()));
    const std::string stream = event.at("stream");
    if (event.at("version") != ++versions[stream]) violation("stream version gap or repeat: " + event.dump());
    if (muster::stream_id_of(stream, muster::kCommandKind)) {
      if (muster::Status applied = muster::apply(folded_commands[stream], events.back()); !applied) {
        violation("a command event does not fold: " + applied.error().message);
      }
      command_positions[stream].push_back(index + 1);
      continue;
    }
    const auto agent_id = muster::stream_id_of(stream, muster::kAgentKind);
    if (!agent_id) continue;
    muster::AgentState& state = folded[std::string(*agent_id)];
    if (muster::Status applied = muster::apply(state, events.back()); !applied) {
      violation("an event does not fold: " + applied.error().message);
    }
    if (event.at("type") == "AgentRegistered") {
      const bool completed = index + 1 < log.size() && log[index + 1].at("stream") == stream &&
                             log[index + 1].at("type") == "AgentTokenIssued";
      if (!completed) violation("a registration is half-applied at position " + std::to_string(index + 1));
    }
  }
  {
    std::lock_guard<std::mutex> lock(model.mutex);
    for (const Ack& ack : model.acks) {
      if (ack.position < 1 || ack.position > log.size()) {
        violation(fmt::format("acknowledged {} of {}{} at position {} is lost (head {})", ack.op,
                              ack.agent_id, ack.stream, ack.position, log.size()));
      }
      const json& event = log[ack.position - 1];
      const std::string acked_stream = event.at("stream");
      const bool right_stream =
          ack.agent_id.empty()
              ? acked_stream == ack.stream
              : muster::stream_id_of(acked_stream, muster::kAgentKind) == std::optional<std::string_view>(ack.agent_id);
      if (!right_stream || (!ack.event_type.empty() && event.at("type") != ack.event_type)) {
        violation(fmt::format("acknowledged {} of {}{} at {} but the log has {}", ack.op, ack.agent_id,
                              ack.stream, ack.position, event.dump()));
      }
    }
    counts.acks = model.acks.size();
  }
  const std::uint64_t head = log.size();
  std::map<std::string, std::size_t> queued_by_agent;  ///< What heartbeats must answer as commands_pending.
  for (const auto& [stream, record] : folded_commands) {
    if (record.state == muster::CommandState::queued) ++queued_by_agent[record.agent_id.to_string()];
  }
  std::map<std::string, std::size_t> by_status;
  for (const auto& [agent_id, state] : folded) {
    const HttpAnswer served = server.get(fmt::format("/api/v1/agents/{}?min_position={}", agent_id, head));
    if (served.status != 200) violation("a folded agent is not served: " + served.body);
    const json expected = muster::to_json(state);
    for (const char* field :
         {"status", "stream_version", "version", "labels", "org", "registered_at", "position"}) {
      if (served.json.at(field) != expected.at(field)) {
        violation(fmt::format("agent {} field {}: served {} but the fold says {}", agent_id, field,
                              served.json.at(field).dump(), expected.at(field).dump()));
      }
    }
    if (muster::is_listed(state.status)) ++by_status[muster::to_string(state.status)];
    ++counts.agents;
    // The actor's view: an empty heartbeat answers the status the fold has.
    std::string token;
    {
      std::lock_guard<std::mutex> lock(model.mutex);
      token = model.token_by_agent[agent_id];
    }
    if (!muster::is_live(state.status) || token.empty()) continue;
    const HttpAnswer beat =
        server.send("POST", "/api/v1/agents/" + agent_id + "/heartbeat", "", bearer(token));
    // 401: a registration or rotation was durable but unacknowledged, so its token never reached the client.
    if (beat.status != 200) continue;
    if (beat.json.at("status") != expected.at("status")) {
      violation(fmt::format("agent {}: the actor says {} but the fold says {}", agent_id,
                            beat.json.at("status").dump(), expected.at("status").dump()));
    }
    if (beat.json.at("commands_pending") != queued_by_agent[agent_id]) {
      violation(fmt::format("agent {}: a heartbeat answers commands_pending {} but the fold has {} queued",
                            agent_id, beat.json.at("commands_pending").dump(), queued_by_agent[agent_id]));
    }
  }
  // Configuration: what the server serves equals the config model folded here.
  muster::ConfigModel configs;
  if (muster::Status applied = configs.apply(events); !applied) {
    violation("an event does not fold into the config model: " + applied.error().message);
  }
  for (const auto& [agent_id, state] : folded) {
    const HttpAnswer served = server.get(fmt::format("/api/v1/agents/{}/config?min_position={}", agent_id, head));
    if (served.status != 200) violation("an agent's config is not served: " + served.body);
    const auto expected = configs.agent(state.agent_id);
    if (!expected) violation("the config model has no agent " + agent_id);
    const json desired = served.json.at("desired");
    const std::string served_hash = desired.is_null() ? "" : desired.at("config_hash").get<std::string>();
    const std::string expected_hash = expected->desired ? expected->desired->hash : "";
    if (served.json.at("config_version") != expected->config_version || served_hash != expected_hash ||
        served.json.at("config_status") != muster::to_string(expected->status)) {
      violation(fmt::format("agent {}: served config {} but the fold says version {}, hash {}, status {}", agent_id,
                            served.body, expected->config_version, expected_hash,
                            muster::to_string(expected->status)));
    }
  }
  const HttpAnswer stats = server.get(fmt::format("/api/v1/stats?min_position={}", head));
  const muster::ConfigStatusCounts config_counts = configs.status_counts("*");
  for (std::size_t index = 0; index < muster::kConfigStatusCount; ++index) {
    const char* status = muster::to_string(static_cast<muster::ConfigStatus>(index));
    if (stats.json.at("by_config_status").at(status) != config_counts[index]) {
      violation(fmt::format("/stats counts {} agents {} but the fold has {}",
                            stats.json.at("by_config_status").at(status).dump(), status, config_counts[index]));
    }
  }
  for (const char* status : {"ONLINE", "DEGRADED", "OFFLINE"}) {
    if (stats.json.at("by_status").at(status) != by_status[status]) {
      violation(fmt::format("/stats counts {} {} but the fold has {}",
                            stats.json.at("by_status").at(status).dump(), status, by_status[status]));
    }
  }
  // Commands: each one served equals its stream's fold.
  for (const auto& [stream, record] : folded_commands) {
    const HttpAnswer served =
        server.get(fmt::format("/api/v1/commands/{}?min_position={}", record.command_id, head));
    if (served.status != 200) violation("a folded command is not served: " + served.body);
    const json expected = expected_command_view(record, command_positions[stream]);
    if (served_command_view(served.json) != expected) {
      violation(
          fmt::format("command {}: served {} but the fold says {}", stream, served.body, expected.dump()));
    }
    ++counts.commands;
    const char* state = muster::to_string(record.state);
    counts.commands_by_state[state] = counts.commands_by_state.value(state, 0) + 1;
  }
  return counts;
}

bool parse(int argc, char** argv, Options& options) {
  for (int index = 1; index < argc; ++index) {
    const std::string name = argv[index];
    const auto value = [&]() -> std::string { return index + 1 < argc ? argv[++index] : ""; };
    if (name == "--cycles") {
      options.cycles = std::stoi(value());
    } else if (name == "--power-loss") {
      options.power_loss = true;
    } else if (name == "--durability") {
      options.durability = value();
    } else if (name == "--clients") {
      options.clients = std::stoi(value());
    } else if (name == "--seed") {
      options.seed = std::stoull(value());
    } else if (name == "--data") {
      options.data_dir = value();
    } else {
      return false;
    }
  }
  return options.cycles > 0 && options.clients > 0;
}

}  // namespace

// Where the server's fleet snapshot left off when it started (0: none, the whole log was folded).
std::uint64_t fleet_snapshot_position(const MusterServer& server) {
  std::istringstream log(server.log_text());
  for (std::string line; std::getline(log, line);) {
    const json entry = json::parse(line, nullptr, false);
    if (entry.is_object() && entry.value("msg", "") == "read models loaded from snapshots") {
      return entry.value("fleet_position", std::uint64_t{0});
    }
  }
  return 0;
}

int run(const Options& options) {
  muster::testing::TempDir temp;
  const std::string data = options.data_dir.empty() ? temp.file("data") : options.data_dir;
  const std::string ledger = temp.file("sync-ledger");
  // Snapshots every 100 ms: kill -9 lands before, during and after them, and
  // each restart starts from one (then folds the log's tail).
  const std::vector<std::string> serve_args = {"--durability", options.durability, "--enable-test-hooks",
                                               "--test-sync-ledger", ledger, "--snapshot-interval", "100ms"};
  std::mt19937_64 random(options.seed);
  Model model;
  CheckCounts last;
  std::uint64_t dropped_total = 0;
  std::size_t restarts_from_snapshots = 0;
  for (int cycle = 1; cycle <= options.cycles; ++cycle) {
    MusterServer server(data, serve_args);
    const std::uint64_t snapshot_position = fleet_snapshot_position(server);
    if (snapshot_position > 0) ++restarts_from_snapshots;
    last = check(server, model);
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> requests{0};
    std::vector<std::thread> clients;
    for (int client = 0; client < options.clients; ++client) {
      clients.emplace_back(run_client, std::cref(server), std::ref(model), client, random(), std::cref(stop),
                           std::ref(requests));
    }
    clients.emplace_back(run_operator, std::cref(server), std::ref(model), options.clients, random(),
                         std::cref(stop), std::ref(requests));
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 900));  // the random moment
    server.kill9();
    stop = true;
    for (std::thread& client : clients) client.join();
    std::uint64_t dropped = 0;
    if (options.power_loss) {
      auto cut = muster::drop_unsynced_data(data, ledger, {"admin.key", muster::DurableHeadMark::kFileName});
      if (!cut) violation("cannot simulate the power loss: " + cut.error().message);
      dropped = *cut;
      dropped_total += dropped;
    }
    std::printf("%s\n", json{{"cycle", cycle},
                             {"started_from_snapshot_at", snapshot_position},
                             {"requests", requests.load()},
                             {"events_checked", last.events},
                             {"acks_checked", last.acks},
                             {"agents_checked", last.agents},
                             {"commands_checked", last.commands},
                             {"unsynced_bytes_dropped", dropped}}
                            .dump()
                            .c_str());
    std::fflush(stdout);
  }
  MusterServer server(data, serve_args);
  last = check(server, model);
  std::printf("%s\n", json{{"summary", true},
                           {"cycles", options.cycles},
                           {"restarts_from_snapshots", restarts_from_snapshots},
                           {"power_loss", options.power_loss},
                           {"durability", options.durability},
                           {"seed", options.seed},
                           {"events_checked", last.events},
                           {"acks_checked", last.acks},
                           {"agents_checked", last.agents},
                           {"commands_checked", last.commands},
                           {"commands_by_state", last.commands_by_state},
                           {"unsynced_bytes_dropped", dropped_total},
                           {"violations", 0}}
                          .dump()
                          .c_str());
  return 0;
}

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    std::fputs(
        "usage: muster_crashloop [--cycles N] [--power-loss] [--durability fsync|wal] [--clients N] [--seed "
        "N] "
        "[--data DIR]\n",
        stderr);
    return 2;
  }
  try {
    return run(options);
  } catch (const Violation& found) {
    std::fprintf(stderr, "VIOLATION: %s\n", found.what.c_str());
    return 1;
  }
}
