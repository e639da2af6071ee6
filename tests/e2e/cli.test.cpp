// The operator CLI (`muster agents|configs|groups|commands|rollouts|alerts|
// events|keys|tokens ...`) run as the real binary against a real server:
// tables and --output json, filters reaching the server, the event tail and
// its --follow, key and token round trips, each exit code, $MUSTER_SERVER and
// $MUSTER_KEY against the flags, and the key never printed.

#include <cstdlib>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

// Sets (or, with nullopt, unsets) environment variables for the commands this
// test runs, and puts back what was there before when it goes.
class ScopedEnvironment {
 public:
  ScopedEnvironment(std::initializer_list<std::pair<std::string, std::optional<std::string>>> values) {
    for (const auto& [name, value] : values) {
      const char* before = std::getenv(name.c_str());
      saved_.emplace_back(name, before == nullptr ? std::nullopt : std::optional<std::string>(before));
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Neither a developer's own settings nor another case's leak into a case.
ScopedEnvironment clean_environment() {
  return {{"MUSTER_SERVER", std::nullopt}, {"MUSTER_KEY", std::nullopt}};
}

std::string url_of(const MusterServer& server) {
  return fmt::format("http://127.0.0.1:{}", server.port());
}

// Runs `muster args...`; CHECKs that `secret` (the key it was given) shows
// in neither its output nor its errors.
CommandResult run_cli(const std::vector<std::string>& args, const std::string& secret) {
  const CommandResult result = run_muster(args, std::chrono::seconds(30));
  INFO("muster " << fmt::format("{}", fmt::join(args, " ")) << " -> " << result.exit_code
                 << "\nout: " << result.out << "\nerr: " << result.err);
  CHECK(result.out.find(secret) == std::string::npos);
  CHECK(result.err.find(secret) == std::string::npos);
  return result;
}

// `muster GROUP VERB args... --server URL --key KEY`.
CommandResult run_against(const MusterServer& server, const std::string& key, std::vector<std::string> args) {
  args.insert(args.end(), {"--server", url_of(server), "--key", key});
  return run_cli(args, key);
}

json parse_output(const CommandResult& result) {
  INFO("out: " << result.out << "\nerr: " << result.err);
  const json parsed = json::parse(result.out, nullptr, false);
  REQUIRE(!parsed.is_discarded());
  return parsed;
}

// The rows of a table the CLI printed: its lines from the header on, each
// split at runs of spaces.
std::vector<std::vector<std::string>> table_rows(const std::string& out) {
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : lines_of(out)) {
    std::vector<std::string> cells;
    std::istringstream words(line);
    for (std::string word; words >> word;) cells.push_back(word);
    rows.push_back(cells);
  }
  return rows;
}

// A server with three agents: two prod (web-1 on 1.4.2, web-2 degraded on
// 1.5.0), one staging edge agent; returns their ids by name.
std::map<std::string, std::string> register_cli_fleet(const MusterServer& server) {
  std::map<std::string, std::string> ids;
  ids["web-1"] = register_agent(server, "i-web-1",
                                {{"name", "web-1"},
                                 {"version", "1.4.2"},
                                 {"type", "otel-collector"},
                                 {"labels", {{"env", "prod"}}}})
                     .agent_id;
  ids["web-2"] = register_agent(server, "i-web-2",
                                {{"name", "web-2"},
                                 {"version", "1.5.0"},
                                 {"type", "otel-collector"},
                                 {"labels", {{"env", "prod"}}}})
                     .agent_id;
  ids["edge-1"] =
      register_agent(
          server, "i-edge-1",
          {{"name", "edge-1"}, {"version", "1.5.0"}, {"type", "edge"}, {"labels", {{"env", "staging"}}}})
          .agent_id;
  const std::uint64_t position =
      heartbeat(server, ids["web-2"], {{"status", "degraded"}}).at("position").get<std::uint64_t>();
  REQUIRE(stats(server, position).at("total") == 3);
  return ids;
}

// The names in `agents list --output json ARGS...`, sorted.
std::vector<std::string> listed_names(const MusterServer& server, const std::vector<std::string>& filters) {
  std::vector<std::string> args = {"agents", "list", "--output", "json"};
  args.insert(args.end(), filters.begin(), filters.end());
  const CommandResult result = run_against(server, server.admin_key(), args);
  REQUIRE(result.exit_code == 0);
  std::vector<std::string> names;
  const json page = parse_output(result);
  for (const json& agent : page.at("agents")) names.push_back(agent.at("name").get<std::string>());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("cli: agents list prints a table for people and the API's JSON for scripts") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));
  const auto ids = register_cli_fleet(server);

  const CommandResult table = run_against(server, server.admin_key(), {"agents", "list"});
  REQUIRE(table.exit_code == 0);
  CHECK(table.err.empty());
  const auto rows = table_rows(table.out);
  REQUIRE(rows.size() == 5);  // header, three agents, total
  CHECK(rows[0] ==
        std::vector<std::string>{"AGENT_ID", "NAME", "STATUS", "VERSION", "TYPE", "CONFIG", "LAST_SEEN"});
  std::set<std::string> listed;
  for (std::size_t index = 1; index <= 3; ++index) {
    REQUIRE(rows[index].size() == 7);
    listed.insert(rows[index][0]);
    if (rows[index][1] == "web-2") CHECK(rows[index][2] == "DEGRADED");
    if (rows[index][1] == "edge-1") CHECK(rows[index][4] == "edge");
  }
  CHECK(listed == std::set<std::string>{ids.at("web-1"), ids.at("web-2"), ids.at("edge-1")});
  CHECK(rows[4] == std::vector<std::string>{"total:", "3"});

  const json page =
      parse_output(run_against(server, server.admin_key(), {"agents", "list", "--output", "json"}));
  CHECK(page.at("total") == 3);
  CHECK(page.at("agents").size() == 3);
  CHECK(page.at("next_cursor").is_null());

  // One agent: name: value lines, or its JSON.
  const CommandResult one = run_against(server, server.admin_key(), {"agents", "get", ids.at("web-1")});
  REQUIRE(one.exit_code == 0);
  CHECK(one.out.find("agent_id:") != std::string::npos);
  CHECK(one.out.find(ids.at("web-1")) != std::string::npos);
  const json agent = parse_output(
      run_against(server, server.admin_key(), {"agents", "get", ids.at("web-1"), "--output=json"}));
  CHECK(agent.at("name") == "web-1");
  CHECK(agent.at("health").is_object());
}

TEST_CASE("cli: the agents list's filters and paging reach the server") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));
  register_cli_fleet(server);

  using Names = std::vector<std::string>;
  CHECK(listed_names(server, {"--label", "env=prod"}) == Names{"web-1", "web-2"});
  CHECK(listed_names(server, {"--label", "env=prod", "--version", "1.5.0"}) == Names{"web-2"});
  CHECK(listed_names(server, {"--status", "DEGRADED"}) == Names{"web-2"});
  CHECK(listed_names(server, {"--type", "edge"}) == Names{"edge-1"});
  CHECK(listed_names(server, {"--search", "web"}) == Names{"web-1", "web-2"});
  CHECK(listed_names(server, {"--config-status", "none"}) == Names{"edge-1", "web-1", "web-2"});
  CHECK(listed_names(server, {"--config-status", "failed"}).empty());

  // Paging: --limit 2, then the cursor the first page printed.
  const CommandResult first = run_against(server, server.admin_key(), {"agents", "list", "--limit", "2"});
  REQUIRE(first.exit_code == 0);
  const auto rows = table_rows(first.out);
  REQUIRE(rows.size() == 5);  // header, two agents, total, more
  REQUIRE(rows[4].size() == 3);
  CHECK(rows[4][0] == "more:");
  CHECK(rows[4][1] == "--cursor");
  const json second = parse_output(
      run_against(server, server.admin_key(),
                  {"agents", "list", "--limit", "2", "--cursor", rows[4][2], "--output", "json"}));
  REQUIRE(second.at("agents").size() == 1);
  CHECK(second.at("next_cursor").is_null());
  std::set<std::string> seen = {rows[1][0], rows[2][0],
                                second.at("agents")[0].at("agent_id").get<std::string>()};
  CHECK(seen.size() == 3);
}

TEST_CASE("cli: agents deregister, and the other resources' commands against a real server") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));
  const auto ids = register_cli_fleet(server);
  const std::string& key = server.admin_key();

  const json deregistered =
      parse_output(run_against(server, key, {"agents", "deregister", ids.at("edge-1"), "--output", "json"}));
  CHECK(deregistered.at("status") == "DEREGISTERED");
  CHECK(stats(server, deregistered.at("position")).at("total") == 2);

  // A command: sent, then listed and shown.
  const json sent = parse_output(run_against(server, key,
                                             {"commands", "send", ids.at("web-1"), "--type", "restart",
                                              "--params", R"({"delay": 5})", "--output", "json"}));
  const std::string command_id = sent.at("command_id");
  CHECK(sent.at("params") == json{{"delay", 5}});
  const CommandResult commands = run_against(server, key, {"commands", "list", "--agent", ids.at("web-1")});
  REQUIRE(commands.exit_code == 0);
  CHECK(commands.out.find(command_id) != std::string::npos);
  CHECK(parse_output(run_against(server, key, {"commands", "get", command_id, "--output", "json"}))
            .at("type") == "restart");

  // A config pushed from a local file (created, then a new version), listed,
  // shown, diffed and rolled back.
  const std::string file = dir.file("a.yaml");
  std::ofstream(file) << "a: 1\n";
  const json created = parse_output(run_against(
      server, key, {"configs", "push", "collector", "--file", file, "--kind", "config", "--output", "json"}));
  CHECK(created.at("version") == 1);
  std::ofstream(file) << "a: 2\n";
  const CommandResult pushed = run_against(server, key, {"configs", "push", "collector", "--file", file});
  REQUIRE(pushed.exit_code == 0);
  const auto pushed_rows = table_rows(pushed.out);
  CHECK(std::count(pushed_rows.begin(), pushed_rows.end(), std::vector<std::string>{"changed:", "true"}) ==
        1);
  CHECK(std::count(pushed_rows.begin(), pushed_rows.end(), std::vector<std::string>{"version:", "2"}) == 1);
  const json same = parse_output(
      run_against(server, key, {"configs", "push", "collector", "--file", file, "--output", "json"}));
  CHECK(same.at("changed") == false);
  CHECK(same.at("version") == 2);
  CHECK(run_against(server, key, {"configs", "push", "collector", "--file", dir.file("missing.yaml")})
            .exit_code == 2);
  CHECK(run_against(server, key, {"configs", "push", "collector"}).exit_code == 2);
  const json first = parse_output(
      run_against(server, key, {"configs", "get", "collector", "--version", "1", "--output", "json"}));
  CHECK(first.at("files") == json{{"a.yaml", {{"content_type", "application/yaml"}, {"body", "a: 1\n"}}}});
  const CommandResult configs = run_against(server, key, {"configs", "list"});
  REQUIRE(configs.exit_code == 0);
  CHECK(table_rows(configs.out).at(1).at(0) == "collector");
  CHECK(table_rows(configs.out).at(1).at(2) == "2");
  const json diff = parse_output(run_against(
      server, key, {"configs", "diff", "collector", "--from", "1", "--to", "2", "--output", "json"}));
  CHECK(diff.at("from") == 1);
  CHECK(diff.at("to") == 2);
  // For people: each file's change, then its unified diff as the server made it.
  const CommandResult diff_text =
      run_against(server, key, {"configs", "diff", "collector", "--from", "1", "--to", "2"});
  REQUIRE(diff_text.exit_code == 0);
  const std::vector<std::string> diff_lines = lines_of(diff_text.out);
  REQUIRE(!diff_lines.empty());
  CHECK(diff_lines[0] == "a.yaml: modified");
  CHECK(std::find(diff_lines.begin(), diff_lines.end(), "-a: 1") != diff_lines.end());
  CHECK(std::find(diff_lines.begin(), diff_lines.end(), "+a: 2") != diff_lines.end());
  const json rolled_back = parse_output(
      run_against(server, key, {"configs", "rollback", "collector", "--version", "1", "--output", "json"}));
  CHECK(rolled_back.at("version") == 3);

  // A rollout started from a file, and shown under each of its names.
  REQUIRE(
      server.post("/api/v1/groups", json{{"name", "web"}, {"selector", {{"env", "prod"}}}}.dump()).status ==
      201);
  const std::string rollout_file = dir.file("rollout.json");
  std::ofstream(rollout_file) << json{{"name", "collector v2"},
                                      {"target", {{"group", "web"}}},
                                      {"change", {{"assignment", {{"config", "collector"}, {"version", 2}}}}},
                                      {"stages", json::array({{{"percent", 100}, {"bake_time", "1h"}}})}}
                                     .dump();
  const json started = parse_output(
      run_against(server, key, {"rollouts", "start", "--file", rollout_file, "--output", "json"}));
  const std::string rollout_id = started.at("rollout_id");
  for (const char* verb : {"get", "show", "status"}) {
    CAPTURE(verb);
    CHECK(parse_output(run_against(server, key, {"rollouts", verb, rollout_id, "--output", "json"}))
              .at("rollout_id") == rollout_id);
  }
  CHECK(parse_output(run_against(server, key, {"agents", "show", ids.at("web-1"), "--output", "json"}))
            .at("agent_id") == ids.at("web-1"));
  std::ofstream(dir.file("not.json")) << "stages: 1\n";
  CHECK(run_against(server, key, {"rollouts", "start", "--file", dir.file("not.json")}).exit_code == 2);
  CHECK(run_against(server, key, {"rollouts", "start", "--file", dir.file("missing.json")}).exit_code == 2);
  CHECK(run_against(server, key, {"rollouts", "start"}).exit_code == 2);
  std::ofstream(dir.file("empty.json")) << "{}";
  CHECK(run_against(server, key, {"rollouts", "start", "--file", dir.file("empty.json")}).exit_code == 5);

  // Each list answers with its headers.
  for (const auto& [group, header] : std::vector<std::pair<std::string, std::string>>{
           {"groups", "NAME"}, {"rollouts", "ROLLOUT_ID"}, {"alerts", "ALERT_ID"}}) {
    const CommandResult listed = run_against(server, key, {group, "list"});
    CHECK(listed.exit_code == 0);
    CHECK(listed.out.rfind(header, 0) == 0);
  }
  CHECK(run_against(server, key, {"rollouts", "pause", "0123456789abcdef"}).exit_code == 4);
}

TEST_CASE("cli: events tail prints the log's events and --follow prints new ones as they happen") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));
  const Registered first = register_agent(server, "i-tail-1");

  // Without --follow: the latest events, one JSON object per line.
  const CommandResult tail = run_against(server, server.admin_key(), {"events", "tail", "--output", "json"});
  REQUIRE(tail.exit_code == 0);
  std::vector<json> events;
  for (const std::string& line : lines_of(tail.out)) {
    events.push_back(json::parse(line, nullptr, false));
    REQUIRE(events.back().is_object());
  }
  REQUIRE(!events.empty());
  CHECK(events.back().at("position") == first.position);
  const std::vector<std::string> types = types_of(events);
  CHECK(std::count(types.begin(), types.end(), "AgentRegistered") == 1);

  // --type and --from-position reach the server; the table shows one event a line.
  const CommandResult registered = run_against(
      server, server.admin_key(), {"events", "tail", "--type", "AgentRegistered", "--from-position", "1"});
  REQUIRE(registered.exit_code == 0);
  const auto rows = table_rows(registered.out);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].at(2) == "AgentRegistered");
  CHECK(rows[0].at(3) == agent_stream(first.agent_id));

  // --follow from the next position: nothing appended after it is missed,
  // however long the stream takes to open.
  const std::uint64_t next = log_position(server) + 1;
  const std::string out_path = dir.file("follow.out");
  {
    ChildProcess follower(MUSTER_BINARY,
                          {"events", "tail", "--follow", "--from-position", std::to_string(next), "--output",
                           "json", "--server", url_of(server), "--key", server.admin_key()},
                          out_path, dir.file("follow.err"));
    const Registered second = register_agent(server, "i-tail-2");
    const bool printed = eventually(
        [&] {
          std::ifstream file(out_path);
          for (std::string line; std::getline(file, line);) {
            const json event = json::parse(line, nullptr, false);
            if (event.is_object() && event.value("type", "") == "AgentRegistered" &&
                event.value("stream", "") == agent_stream(second.agent_id)) {
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(20));
    CHECK(printed);
  }
  std::ifstream file(out_path);
  std::stringstream followed;
  followed << file.rdbuf();
  CHECK(followed.str().find(server.admin_key()) == std::string::npos);
  for (const std::string& line : lines_of(followed.str()))
    CHECK(json::parse(line, nullptr, false).is_object());
  CHECK(run_against(server, server.admin_key(), {"events", "tail", "--stream", "agent:x"}).exit_code == 2);
}

TEST_CASE("cli: keys create, list and revoke: the new key works until it is revoked") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));

  const CommandResult created =
      run_against(server, server.admin_key(), {"keys", "create", "--name", "ci", "--role", "viewer"});
  REQUIRE(created.exit_code == 0);
  // Shown once, in the table as in JSON: the new key is the answer's point.
  std::string new_key;
  std::string key_id;
  for (const auto& row : table_rows(created.out)) {
    if (row.size() == 2 && row[0] == "key:") new_key = row[1];
    if (row.size() == 2 && row[0] == "id:") key_id = row[1];
  }
  REQUIRE(new_key.rfind("mk_", 0) == 0);
  REQUIRE(!key_id.empty());

  CHECK(run_against(server, new_key, {"agents", "list"}).exit_code == 0);
  // A viewer may not manage keys: 403.
  CHECK(run_against(server, new_key, {"keys", "list"}).exit_code == 3);
  const json keys =
      parse_output(run_against(server, server.admin_key(), {"keys", "list", "--output", "json"}));
  bool listed = false;
  for (const json& key : keys.at("api_keys"))
    listed = listed || (key.at("id") == key_id && key.at("name") == "ci");
  CHECK(listed);
  CHECK(keys.dump().find(new_key) == std::string::npos);

  CHECK(run_against(server, server.admin_key(), {"keys", "revoke", key_id}).exit_code == 0);
  const CommandResult refused = run_against(server, new_key, {"agents", "list"});
  CHECK(refused.exit_code == 3);
  CHECK(refused.err.find("INVALID_API_KEY") != std::string::npos);
  CHECK(run_against(server, server.admin_key(), {"keys", "revoke", key_id}).exit_code ==
        5);  // already revoked
  CHECK(run_against(server, server.admin_key(), {"keys", "create", "--name", "x", "--role", "root"})
            .exit_code == 5);
}

TEST_CASE("cli: tokens create, list and revoke: agents enroll with the new token until it is revoked") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string& key = server.admin_key();

  const json created = parse_output(run_against(
      server, key,
      {"tokens", "create", "--name", "eu", "--max-uses", "5", "--label", "region=eu", "--output", "json"}));
  const std::string token = created.at("token");
  const std::string token_id = created.at("id");
  CHECK(created.at("max_uses") == 5);
  const auto enroll = [&](const std::string& instance_id) {
    return server.send("POST", "/api/v1/agents/register", registration_body(instance_id).dump(),
                       {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}});
  };
  const HttpAnswer enrolled = enroll("i-eu-1");
  REQUIRE(enrolled.status == 201);
  CHECK(get_agent(server, enrolled.json.at("agent_id"), enrolled.json.at("position")).at("labels") ==
        json{{"region", "eu"}});

  const CommandResult listed = run_against(server, key, {"tokens", "list"});
  REQUIRE(listed.exit_code == 0);
  bool found = false;
  for (const auto& row : table_rows(listed.out)) {
    if (!row.empty() && row[0] == token_id) {
      found = true;
      CHECK(row.at(3) == "1");  // uses
      CHECK(row.at(4) == "5");  // max uses
    }
  }
  CHECK(found);
  CHECK(listed.out.find(token) == std::string::npos);

  CHECK(run_against(server, key, {"tokens", "revoke", token_id}).exit_code == 0);
  CHECK(enroll("i-eu-2").status == 401);
  CHECK(run_against(server, key, {"tokens", "create", "--name", "x", "--max-uses", "many"}).exit_code == 5);
}

TEST_CASE("cli: exit codes say what failed, and errors are one line with the server's code") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string& key = server.admin_key();

  // 1: nothing listens there.
  const CommandResult unreachable = run_cli(
      {"agents", "list", "--server", fmt::format("http://127.0.0.1:{}", unused_loopback_port()), "--key", key},
      key);
  CHECK(unreachable.exit_code == 1);
  CHECK(lines_of(unreachable.err).size() == 1);
  CHECK(unreachable.err.find("cannot reach") != std::string::npos);

  // 3: a wrong key.
  const CommandResult wrong_key = run_against(server, "mk_0123456789abcdef_wrong", {"agents", "list"});
  CHECK(wrong_key.exit_code == 3);
  CHECK(lines_of(wrong_key.err).size() == 1);
  CHECK(wrong_key.err.find("INVALID_API_KEY") != std::string::npos);
  CHECK(wrong_key.out.empty());

  // 4: no such agent; with --output json, the server's error document.
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  const CommandResult missing = run_against(server, key, {"agents", "get", unknown});
  CHECK(missing.exit_code == 4);
  CHECK(missing.err.find("AGENT_NOT_FOUND") != std::string::npos);
  const CommandResult missing_json = run_against(server, key, {"agents", "get", unknown, "--output", "json"});
  CHECK(missing_json.exit_code == 4);
  const json error = json::parse(missing_json.err, nullptr, false);
  REQUIRE(error.is_object());
  CHECK(error.at("code") == "AGENT_NOT_FOUND");
  CHECK(error.at("error").is_string());

  // 5: the server refuses the input.
  const CommandResult bad_id = run_against(server, key, {"agents", "get", "not-an-id"});
  CHECK(bad_id.exit_code == 5);
  CHECK(bad_id.err.find("INVALID_AGENT_ID") != std::string::npos);
  const CommandResult bad_status = run_against(server, key, {"agents", "list", "--status", "SLEEPING"});
  CHECK(bad_status.exit_code == 5);
  CHECK(bad_status.err.find("INVALID_PARAMETER") != std::string::npos);
  CHECK(lines_of(bad_status.err).size() == 1);

  // 2: usage errors, printed with the usage; nothing is sent.
  const CommandResult bad_flag = run_against(server, key, {"agents", "list", "--bogus"});
  CHECK(bad_flag.exit_code == 2);
  CHECK(bad_flag.err.find("unknown option '--bogus'") != std::string::npos);
  CHECK(bad_flag.err.find("muster agents list") != std::string::npos);
  CHECK(run_against(server, key, {"agents", "get"}).exit_code == 2);
  CHECK(run_against(server, key, {"agents", "get", "a", "b"}).exit_code == 2);
  CHECK(run_against(server, key, {"agents", "frobnicate"}).exit_code == 2);
  CHECK(run_against(server, key, {"agents", "list", "--output", "yaml"}).exit_code == 2);
  CHECK(run_cli({"agents", "list", "--server", "ftp://127.0.0.1:1", "--key", key}, key).exit_code == 2);
  CHECK(run_cli({"agents"}, key).exit_code == 2);

  // --help everywhere, exit 0.
  const CommandResult help = run_cli({"--help"}, key);
  CHECK(help.exit_code == 0);
  for (const char* listed : {"muster agents list", "muster events tail", "muster keys create",
                             "muster tokens revoke", "muster rollouts pause", "Exit codes"}) {
    CHECK(help.out.find(listed) != std::string::npos);
  }
  const CommandResult group_help = run_cli({"agents", "--help"}, key);
  CHECK(group_help.exit_code == 0);
  CHECK(group_help.out.find("muster agents deregister") != std::string::npos);
  const CommandResult command_help = run_cli({"events", "tail", "--help"}, key);
  CHECK(command_help.exit_code == 0);
  CHECK(command_help.out.find("--follow") != std::string::npos);
}

TEST_CASE("cli: an https server, trusted through --ca-cert") {
  const auto environment = clean_environment();
  TempDir dir;
  const std::string cert = dir.file("cert.pem");
  make_certificate(cert, dir.file("key.pem"));
  MusterServer server(dir.file("data"), {"--tls-cert", cert, "--tls-key", dir.file("key.pem")});
  const std::string& key = server.admin_key();
  const std::string url = fmt::format("https://127.0.0.1:{}", server.port());

  const CommandResult trusted =
      run_cli({"agents", "list", "--server", url, "--key", key, "--ca-cert", cert}, key);
  CHECK(trusted.exit_code == 0);
  CHECK(trusted.out.rfind("AGENT_ID", 0) == 0);
  // The system does not trust a self-signed certificate: the server cannot be reached safely.
  const CommandResult untrusted = run_cli({"agents", "list", "--server", url, "--key", key}, key);
  CHECK(untrusted.exit_code == 1);
  CHECK(untrusted.err.find("cannot reach " + url) != std::string::npos);
}

TEST_CASE("cli: MUSTER_SERVER and MUSTER_KEY are used, and a flag wins over each") {
  const auto environment = clean_environment();
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string& key = server.admin_key();
  const std::string nowhere = fmt::format("http://127.0.0.1:{}", unused_loopback_port());
  const std::string wrong_key = "mk_0123456789abcdef_wrong";
  {
    ScopedEnvironment both({{"MUSTER_SERVER", url_of(server)}, {"MUSTER_KEY", key}});
    CHECK(run_cli({"agents", "list"}, key).exit_code == 0);
    CHECK(run_cli({"agents", "list", "--key", wrong_key}, key).exit_code == 3);
    CHECK(run_cli({"agents", "list", "--server", nowhere}, key).exit_code == 1);
  }
  {
    ScopedEnvironment wrong({{"MUSTER_SERVER", nowhere}, {"MUSTER_KEY", wrong_key}});
    CHECK(run_cli({"agents", "list"}, key).exit_code == 1);
    CHECK(run_cli({"agents", "list", "--server", url_of(server)}, key).exit_code == 3);
    CHECK(run_cli({"agents", "list", "--server", url_of(server), "--key", key}, key).exit_code == 0);
  }
  {
    // No key at all: the server says who may call (401), the CLI exits 3.
    ScopedEnvironment server_only({{"MUSTER_SERVER", url_of(server)}});
    const CommandResult anonymous = run_cli({"agents", "list"}, key);
    CHECK(anonymous.exit_code == 3);
    CHECK(anonymous.err.find("UNAUTHORIZED") != std::string::npos);
  }
}

}  // namespace muster::e2e
