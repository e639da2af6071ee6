// Backup and restore against the real binary: a configuration with history
// (rollbacks, a policy, groups of equal priority, pinned versions, explicit
// members, an agent's own assignment) backed up, restored into a new data
// directory whose agents registered again, giving every agent the desired
// configuration it had; dry runs and second restores that change nothing;
// a restore onto a configuration that moved on; pinned versions mapped by
// content; `muster backup` and `muster restore`; and bad documents refused
// naming the field, nothing changed.


#include <fstream>
#include <iterator>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

// REQUIREs `answer` to have `status`.
void require_status(const HttpAnswer& answer, int status) {
  INFO(answer.status << " " << answer.body);
  REQUIRE(answer.status == status);
}

json yaml_files(const std::string& name, const std::string& body) {
  return {{name, {{"content_type", "application/yaml"}, {"body", body}}}};
}

void create_config_in(const MusterServer& server, const std::string& name, const std::string& kind,
                      const std::string& body, const std::string& query = "") {
  require_status(server.post(with_query("/api/v1/configs", query),
                             json{{"name", name},
                                  {"kind", kind},
                                  {"description", "the " + name},
                                  {"files", yaml_files(name + ".yaml", body)}}
                                 .dump()),
                 201);
}

void update_config(const MusterServer& server, const std::string& name, const std::string& body,
                   const std::string& message, const std::string& query = "") {
  require_status(send_json(server, "PUT", with_query("/api/v1/configs/" + name, query),
                           {{"files", yaml_files(name + ".yaml", body)}, {"message", message}}),
                 200);
}

void create_group_in(const MusterServer& server, const std::string& name, const json& selector, int priority,
                     const std::string& description, const std::string& query = "") {
  require_status(server.post(with_query("/api/v1/groups", query), json{{"name", name},
                                                                       {"selector", selector},
                                                                       {"priority", priority},
                                                                       {"description", description}}
                                                                      .dump()),
                 201);
}

void assign_group_in(const MusterServer& server, const std::string& group, const json& assignment,
                     const std::string& query = "") {
  require_status(
      send_json(server, "PUT", with_query("/api/v1/groups/" + group + "/assignment", query), assignment), 200);
}

HttpAnswer restore(const MusterServer& server, const json& document, const std::string& query = "") {
  return server.post(with_query("/api/v1/restore", query), document.dump());
}

// The agents every test fleet has: instance id and labels.
const std::vector<std::pair<std::string, json>> kFleet = {
    {"web-1", {{"env", "prod"}, {"role", "web"}}},
    {"web-2", {{"env", "prod"}, {"role", "web"}}},
    {"db-1", {{"env", "prod"}, {"role", "db"}}},
    {"dev-1", {{"env", "dev"}}},
    {"solo-1", {{"env", "dev"}}},
    {"idle-1", {{"env", "qa"}}},
    {"bare-1", {{"env", "none"}}},
};

// Registers kFleet; instance id -> agent id.
std::map<std::string, std::string> register_fleet(const MusterServer& server) {
  std::map<std::string, std::string> ids;
  for (const auto& [instance_id, labels] : kFleet) {
    ids[instance_id] = register_agent(server, instance_id, {{"labels", labels}}).agent_id;
  }
  return ids;
}

// Instance id -> the desired config_hash the operators' view shows ("" for none).
std::map<std::string, std::string> desired_hashes(const MusterServer& server,
                                                  const std::map<std::string, std::string>& ids) {
  std::map<std::string, std::string> hashes;
  for (const auto& [instance_id, agent_id] : ids) {
    const json desired = get_json(server, "/api/v1/agents/" + agent_id + "/config").at("desired");
    hashes[instance_id] = desired.is_null() ? std::string() : desired.at("config_hash").get<std::string>();
  }
  return hashes;
}

// Configs with history, a policy, groups of every kind and an agent's own
// assignment, for the fleet `ids`.
void build_configuration(const MusterServer& server, const std::map<std::string, std::string>& ids) {
  create_config_in(server, "collector", "config", "receivers: [otlp]\n");
  update_config(server, "collector", "receivers: [otlp, prometheus]\n", "add prometheus");
  update_config(server, "collector", "receivers: [prometheus]\n", "drop otlp");
  require_status(send_json(server, "POST", "/api/v1/configs/collector/rollback", {{"version", 1}}), 200);
  update_config(server, "collector", "receivers: [otlp]\nexporters: [debug]\n", "debug exporter");
  create_config_in(server, "edge", "config", "mode: edge\n");
  update_config(server, "edge", "mode: edge\nbuffer: 10MB\n", "buffer");
  create_config_in(server, "security", "policy", "audit: on\n");
  update_config(server, "security", "audit: on\nfim: on\n", "file integrity");

  create_group_in(server, "prod", {{"env", "prod"}}, 10, "production");
  assign_group_in(server, "prod",
                  {{"config", "collector"},
                   {"version", 2},
                   {"policies", {{{"name", "security"}, {"version", 1}}}},
                   {"settings", {{"log_level", "info"}}}});
  create_group_in(server, "web", {{"role", "web"}}, 20, "web tier");
  assign_group_in(server, "web", {{"config", "collector"}, {"settings", {{"log_level", "debug"}}}});
  // Equal priorities: the one created first wins, and must still after a restore.
  create_group_in(server, "dev-first", {{"env", "dev"}}, 5, "");
  assign_group_in(server, "dev-first", {{"config", "edge"}, {"version", "latest"}});
  create_group_in(server, "dev-second", {{"env", "dev"}}, 5, "");
  assign_group_in(server, "dev-second",
                  {{"config", "collector"}, {"version", 3}, {"policies", {"security"}}});
  create_group_in(server, "pinned", {{"team", "nobody"}}, -1, "explicit members only");
  require_status(server.post("/api/v1/groups/pinned/members",
                             json{{"agent_ids", {ids.at("idle-1"), ids.at("db-1")}}}.dump()),
                 200);
  assign_group_in(server, "pinned", {{"config", "edge"}, {"version", 1}});
  create_group_in(server, "everyone", json::object(), 0, "selects every agent, assigns nothing");
  require_status(send_json(server, "PUT", "/api/v1/agents/" + ids.at("solo-1") + "/assignment",
                           {{"config", "edge"}, {"version", 1}, {"settings", {{"solo", true}}}}),
                 200);
}

// A document without what two takes of the same configuration differ in.
json content_of(json document) {
  document.erase("created_at");
  document.erase("log_position");
  return document;
}

// A document's configs as a restore keeps them: each version's number,
// hash, files, message and rollback (author and time are the restorer's).
json kept_configs(const json& document) {
  json configs = document.at("configs");
  for (json& config : configs) {
    for (json& version : config.at("versions")) {
      version.erase("author");
      version.erase("created_at");
    }
  }
  return configs;
}

// A document's groups with their members as instance ids (agent ids differ
// between data directories).
json kept_groups(const json& document) {
  json groups = document.at("groups");
  for (json& group : groups) {
    std::set<std::string> instances;
    for (const json& member : group.at("members")) instances.insert(document.at("instances").at(member.get<std::string>()));
    group["members"] = instances;
  }
  return groups;
}

// `muster args...` with `input` on its standard input.
CommandResult run_with_input(const std::vector<std::string>& args, const std::string& input) {
  return run_muster(args, std::chrono::seconds(60), input);
}

std::size_t count_actions(const json& report, const std::string& action) {
  std::size_t count = 0;
  for (const json& change : report.at("changes")) count += change.at("action") == action ? 1 : 0;
  return count;
}

// The change of `kind` on `name` with `action` in a report; REQUIREs one.
json change_of(const json& report, const std::string& kind, const std::string& name, const std::string& action) {
  for (const json& change : report.at("changes")) {
    if (change.at("kind") == kind && change.at("name") == name && change.at("action") == action) return change;
  }
  FAIL("no " << kind << " " << name << " " << action << " in " << report.dump());
  return nullptr;
}

}  // namespace

TEST_CASE("backup, wipe, restore: every agent is told the same configuration as before") {
  TempDir dir;
  const std::string source_data = dir.file("source");
  json document;
  std::map<std::string, std::string> source_ids;
  std::map<std::string, std::string> hashes_before;
  {
    MusterServer source(source_data);
    source_ids = register_fleet(source);
    build_configuration(source, source_ids);
    hashes_before = desired_hashes(source, source_ids);
    CHECK(hashes_before.at("bare-1").empty());
    for (const auto& entry : hashes_before) {
      const std::string& instance_id = entry.first;
      const std::string& hash = entry.second;
      if (instance_id != "bare-1") CHECK_MESSAGE(hash.size() == 64, instance_id);
    }
    // dev-1 gets the group created first among equal priorities.
    CHECK(get_json(source, "/api/v1/agents/" + source_ids.at("dev-1") + "/config")
              .at("desired")
              .at("config")
              .at("source") == "group:dev-first");

    document = get_json(source, "/api/v1/backup");
    CHECK(document.at("format") == "muster-backup");
    CHECK(document.at("format_version") == 1);
    CHECK(document.at("org") == "default");
    CHECK(time_of(document.at("created_at")) > 0);
    CHECK(document.at("log_position").get<std::uint64_t>() == log_position(source));
    REQUIRE(document.at("configs").size() == 3);
    const json& collector = document.at("configs").at(0);
    CHECK(collector.at("name") == "collector");
    CHECK(collector.at("kind") == "config");
    CHECK(collector.at("description") == "the collector");
    REQUIRE(collector.at("versions").size() == 5);
    CHECK(collector.at("versions").at(3).at("rolled_back_from") == 1);
    CHECK(collector.at("versions").at(3).at("hash") == collector.at("versions").at(0).at("hash"));
    CHECK(collector.at("versions").at(2).at("message") == "drop otlp");
    CHECK(collector.at("versions").at(0).at("files") == yaml_files("collector.yaml", "receivers: [otlp]\n"));
    CHECK(document.at("configs").at(2).at("kind") == "policy");
    std::vector<std::string> group_names;
    for (const json& group : document.at("groups")) group_names.push_back(group.at("name"));
    CHECK(group_names ==
          std::vector<std::string>{"web", "prod", "dev-first", "dev-second", "everyone", "pinned"});
    CHECK(document.at("groups").at(1).at("assignment").at("version") == 2);
    CHECK(document.at("groups").at(5).at("members").size() == 2);
    CHECK(document.at("groups").at(4).at("assignment").is_null());
    REQUIRE(document.at("agents").size() == 1);
    CHECK(document.at("agents").at(0).at("agent_id") == source_ids.at("solo-1"));
    CHECK(document.at("agents").at(0).at("instance_id") == "solo-1");
    CHECK(document.at("instances").at(source_ids.at("idle-1")) == "idle-1");
    // Nothing about credentials, under any name.
    const std::string text = document.dump();
    CHECK(text.find("token") == std::string::npos);
    CHECK(text.find("sha256") == std::string::npos);
    CHECK(text.find("credential") == std::string::npos);

    // `muster backup` beside the running server prints the same content.
    const CommandResult live = run_muster({"backup", "--data", source_data});
    INFO(live.err);
    REQUIRE(live.exit_code == 0);
    CHECK(content_of(json::parse(live.out)) == content_of(document));
    REQUIRE(source.terminate() == 0);
  }
  // And with no server at all.
  const CommandResult offline = run_muster({"backup", "--data", source_data});
  INFO(offline.err);
  REQUIRE(offline.exit_code == 0);
  CHECK(content_of(json::parse(offline.out)) == content_of(document));
  CHECK(offline.err.empty());
  // With --progress (or on a terminal), it says how far the fold of the log got.
  const CommandResult shown = run_muster({"backup", "--data", source_data, "--progress"});
  REQUIRE(shown.exit_code == 0);
  CHECK(shown.err.find("events of the log folded (100%)\n") != std::string::npos);
  CHECK(content_of(json::parse(shown.out)) == content_of(document));
  CHECK(run_muster({"backup", "--data", source_data, "--org", "nobody-here"}).exit_code == 0);
  // The agents' token digests the log holds are not in the document.
  const CommandResult replay = run_muster({"replay", "--data", source_data});
  REQUIRE(replay.exit_code == 0);
  std::size_t digests = 0;
  for (const std::string& line : lines_of(replay.out)) {
    const json event = json::parse(line);
    if (event.at("type") != "AgentTokenIssued") continue;
    const std::string digest = event.at("data").at("token_sha256");
    CHECK(document.dump().find(digest) == std::string::npos);
    ++digests;
  }
  CHECK(digests == kFleet.size());

  // A new data directory: the same instances register again, as new agents.
  MusterServer target(dir.file("target"));
  const std::map<std::string, std::string> target_ids = register_fleet(target);
  CHECK(target_ids.at("solo-1") != source_ids.at("solo-1"));
  const std::uint64_t before = log_position(target);

  const HttpAnswer dry = restore(target, document, "dry_run=true");
  require_status(dry, 200);
  CHECK(dry.json.at("dry_run") == true);
  CHECK(dry.json.at("applied") == 0);
  CHECK(count_actions(dry.json, "skip") == 0);
  CHECK(change_of(dry.json, "config", "collector", "create").at("detail") == "config with versions 1 to 5");
  CHECK(count_actions(dry.json, "create") == 3 + 6);
  CHECK(log_position(target) == before);
  CHECK(get_json(target, "/api/v1/configs").at("configs").empty());

  const HttpAnswer applied = restore(target, document);
  require_status(applied, 200);
  CHECK(applied.json.at("dry_run") == false);
  CHECK(applied.json.at("changes") == dry.json.at("changes"));
  CHECK(applied.json.at("applied") == applied.json.at("changes").size());
  CHECK(applied.json.at("position").get<std::uint64_t>() > before);
  // The solo agent is found by its instance id.
  const json solo = change_of(applied.json, "agent", target_ids.at("solo-1"), "assign");
  CHECK(solo.at("detail").get<std::string>().find(source_ids.at("solo-1")) != std::string::npos);

  CHECK(desired_hashes(target, target_ids) == hashes_before);
  const json restored = get_json(target, "/api/v1/backup");
  CHECK(kept_configs(restored) == kept_configs(document));
  CHECK(kept_groups(restored) == kept_groups(document));
  CHECK(restored.at("agents").at(0).at("assignment") == document.at("agents").at(0).at("assignment"));
  const json versions = get_json(target, "/api/v1/configs/collector/versions").at("versions");
  REQUIRE(versions.size() == 5);
  CHECK(versions.at(3).at("rolled_back_from") == 1);
  CHECK(get_json(target, "/api/v1/configs/collector?version=2").at("files") ==
        yaml_files("collector.yaml", "receivers: [otlp, prometheus]\n"));

  // Again: nothing to do, nothing appended.
  const std::uint64_t after = log_position(target);
  const HttpAnswer again = restore(target, document);
  require_status(again, 200);
  CHECK(again.json.at("changes").empty());
  CHECK(again.json.at("applied") == 0);
  CHECK(log_position(target) == after);
}

TEST_CASE("a restore onto a configuration that moved on adds versions and changes, rewriting nothing") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  register_agent(server, "web-1", {{"labels", {{"env", "prod"}}}});
  create_config_in(server, "collector", "config", "a: 1\n");
  update_config(server, "collector", "a: 2\n", "two");
  update_config(server, "collector", "a: 3\n", "three");
  create_group_in(server, "prod", {{"env", "prod"}}, 10, "production");
  assign_group_in(server, "prod", {{"config", "collector"}, {"version", 2}});
  const json document = get_json(server, "/api/v1/backup");

  update_config(server, "collector", "a: 4\n", "four");
  require_status(send_json(server, "PATCH", "/api/v1/groups/prod", {{"priority", 1}, {"description", "changed"}}),
                 200);
  assign_group_in(server, "prod", {{"config", "collector"}});

  const HttpAnswer answer = restore(server, document);
  require_status(answer, 200);
  CHECK(answer.json.at("changes").size() == 3);
  CHECK(change_of(answer.json, "config", "collector", "add_version").at("detail").get<std::string>().find(
            "version 5 with the content of the backup's version 3") == 0);
  CHECK(change_of(answer.json, "group", "prod", "update").at("detail") ==
        "priority 10 (was 1), description as in the backup");
  change_of(answer.json, "group", "prod", "assign");

  const json versions = get_json(server, "/api/v1/configs/collector/versions").at("versions");
  REQUIRE(versions.size() == 5);
  CHECK(versions.at(4).at("hash") == document.at("configs").at(0).at("versions").at(2).at("hash"));
  CHECK(versions.at(4).at("message") ==
        "restored from backup " + document.at("created_at").get<std::string>());
  CHECK(get_json(server, "/api/v1/configs/collector?version=4").at("files") == yaml_files("collector.yaml", "a: 4\n"));
  const json group = get_json(server, "/api/v1/groups/prod");
  CHECK(group.at("priority") == 10);
  CHECK(group.at("description") == "production");
  CHECK(group.at("assignment").at("version") == 2);

  const std::uint64_t after = log_position(server);
  require_status(restore(server, document), 200);
  CHECK(log_position(server) == after);
}

TEST_CASE("pinned versions map to the version with the same content - content found nowhere is skipped") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  // The backup comes from organization "acme"; the restore goes into "globex".
  create_config_in(server, "collector", "config", "a: 1\n", "org=acme");
  update_config(server, "collector", "b: 2\n", "b", "org=acme");
  update_config(server, "collector", "c: 3\n", "c", "org=acme");
  create_group_in(server, "mapped", json::object(), 1, "", "org=acme");
  assign_group_in(server, "mapped", {{"config", "collector"}, {"version", 2}}, "org=acme");
  create_group_in(server, "lost", json::object(), 0, "", "org=acme");
  assign_group_in(server, "lost", {{"config", "collector"}, {"version", 1}}, "org=acme");
  const json document = get_json(server, "/api/v1/backup?org=acme");
  CHECK(document.at("org") == "acme");

  // Here version 1 has the backup's version 2 content and the latest is the same.
  create_config_in(server, "collector", "config", "b: 2\n", "org=globex");
  update_config(server, "collector", "c: 3\n", "c", "org=globex");
  const HttpAnswer answer = restore(server, document, "org=globex");
  require_status(answer, 200);
  CHECK(count_actions(answer.json, "add_version") == 0);
  const json mapped = change_of(answer.json, "group", "mapped", "assign");
  CHECK(mapped.at("detail").get<std::string>().find("the backup's version 2 of 'collector' is version 1 here") !=
        std::string::npos);
  CHECK(get_json(server, "/api/v1/groups/mapped?org=globex").at("assignment").at("version") == 1);
  const json lost = change_of(answer.json, "group", "lost", "skip");
  CHECK(lost.at("detail") ==
        "assignment: no version of 'collector' here has the content of the backup's version 1");
  CHECK(get_json(server, "/api/v1/groups/lost?org=globex").at("assignment").is_null());
  CHECK(answer.json.at("applied") == count_actions(answer.json, "create") + count_actions(answer.json, "assign"));
  // "acme" is untouched.
  CHECK(get_json(server, "/api/v1/configs/collector/versions?org=acme").at("versions").size() == 3);
}

TEST_CASE("muster restore sends a document to the server - bad documents are refused naming the field") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--max-config-bytes", "1024"});
  create_config_in(server, "collector", "config", "a: 1\n");
  create_group_in(server, "prod", {{"env", "prod"}}, 10, "production");
  assign_group_in(server, "prod", {{"config", "collector"}, {"version", 1}});
  const json document = get_json(server, "/api/v1/backup");
  require_status(server.del("/api/v1/groups/prod"), 200);
  require_status(server.del("/api/v1/configs/collector"), 200);
  const std::string url = fmt::format("http://127.0.0.1:{}", server.port());

  const CommandResult dry =
      run_with_input({"restore", "--url", url, "--key", server.admin_key(), "--dry-run"}, document.dump());
  INFO(dry.err);
  REQUIRE(dry.exit_code == 0);
  const json dry_answer = json::parse(dry.out);
  CHECK(dry_answer.at("dry_run") == true);
  // A deleted config is made again; its numbers continue.
  CHECK(change_of(dry_answer, "config", "collector", "create").at("detail").get<std::string>().find(
            "config with versions 2 to 2") == 0);
  CHECK(get_json(server, "/api/v1/configs").at("configs").empty());

  const CommandResult applied = run_with_input(
      {"restore", "--url", url, "--key", server.admin_key(), "--progress"}, document.dump());
  INFO(applied.err);
  REQUIRE(applied.exit_code == 0);
  CHECK(json::parse(applied.out).at("applied") == 3);
  // With --progress (or on a terminal), it says what it sends and what it waits for.
  CHECK(applied.err.find(fmt::format("restore: sending {} bytes to {}", document.dump().size(), url)) !=
        std::string::npos);
  CHECK(dry.err.empty());
  // The pinned version 1 still has its content (versions outlive a deletion).
  CHECK(get_json(server, "/api/v1/groups/prod").at("assignment").at("version") == 1);
  CHECK(get_json(server, "/api/v1/configs/collector/versions").at("versions").size() == 2);

  const CommandResult refused = run_with_input({"restore", "--url", url, "--key", "mk_bogus"}, document.dump());
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("the server answered 401") != std::string::npos);
  CHECK(run_with_input({"restore", "--url", url, "--key", server.admin_key()}, "").exit_code == 1);
  CHECK(run_muster({"restore", "--url", "127.0.0.1:1", "--key", "k"}).exit_code == 2);

  // Each bad document: 400 naming the field, nothing changed.
  const json valid_config = {{"name", "fresh"},
                             {"kind", "config"},
                             {"versions", {{{"version", 1}, {"files", yaml_files("a.yaml", "a: 1\n")}}}}};
  const auto with = [&](const json& members) {
    json bad = {{"format", "muster-backup"}, {"format_version", 1}, {"configs", {valid_config}}};
    bad.update(members);
    return bad;
  };
  json wrong_hash = valid_config;
  wrong_hash["versions"][0]["hash"] = std::string(64, '0');
  json too_big = valid_config;
  too_big["versions"][0]["files"] = yaml_files("a.yaml", std::string(2000, 'x'));
  json repeated = valid_config;
  repeated["versions"].push_back({{"version", 2}, {"files", yaml_files("a.yaml", "a: 1\n")}});
  json bad_rollback = valid_config;
  bad_rollback["versions"].push_back({{"version", 2}, {"files", yaml_files("a.yaml", "a: 2\n")}, {"rolled_back_from", 1}});
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"format", "other"}, {"format_version", 1}}, "format"},
      {{{"format", "muster-backup"}, {"format_version", 2}}, "format_version"},
      {with({{"surprise", 1}}), "surprise"},
      {with({{"configs", {{{"name", "Bad Name"}, {"versions", valid_config.at("versions")}}}}}), "configs[0].name"},
      {with({{"configs", {{{"name", "x"}, {"kind", "both"}, {"versions", valid_config.at("versions")}}}}}),
       "configs[0].kind"},
      {with({{"configs", {{{"name", "x"}, {"versions", json::array()}}}}}), "configs[0].versions"},
      {with({{"configs", {{{"name", "x"}, {"versions", {{{"version", 1}, {"files", json::object()}}}}}}}}),
       "configs[0].versions[0].files"},
      {with({{"configs", {too_big}}}), "configs[0].versions[0].files"},
      {with({{"configs", {wrong_hash}}}), "configs[0].versions[0].hash"},
      {with({{"configs", {repeated}}}), "configs[0].versions[1].files"},
      {with({{"configs", {bad_rollback}}}), "configs[0].versions[1].rolled_back_from"},
      {with({{"configs", {valid_config, valid_config}}}), "configs[1].name"},
      {with({{"groups", {{{"name", "g"}, {"selector", {{"env", 1}}}}}}}), "groups[0].selector"},
      {with({{"groups", {{{"name", "g"}, {"priority", 2'000'000}}}}}), "groups[0].priority"},
      {with({{"groups", {{{"name", "g"}, {"members", {"not-an-id"}}}}}}), "groups[0].members[0]"},
      {with({{"groups", {{{"name", "g"}, {"assignment", {{"config", "missing"}}}}}}}), "groups[0].assignment.config"},
      {with({{"groups", {{{"name", "g"}, {"assignment", {{"config", "fresh"}, {"version", 7}}}}}}}),
       "groups[0].assignment.version"},
      {with({{"groups", {{{"name", "g"}, {"assignment", {{"policies", {"fresh"}}}}}}}}),
       "groups[0].assignment.policies"},
      {with({{"agents", {{{"agent_id", "nope"}, {"instance_id", "i"}, {"assignment", {{"config", "fresh"}}}}}}}),
       "agents[0].agent_id"},
      {with({{"agents",
              {{{"agent_id", "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"}, {"instance_id", "i"}}}}}),
       "agents[0].assignment"},
      {with({{"instances", {{"3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10", "bad instance"}}}}),
       "instances.3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"},
  };
  const std::uint64_t before = log_position(server);
  for (const auto& bad_case : cases) {
    const auto& bad = bad_case.first;
    const auto& field = bad_case.second;
    for (const char* query : {"", "dry_run=true"}) {
      const HttpAnswer answer = restore(server, bad, query);
      INFO(field << ": " << answer.status << " " << answer.body);
      check_error(answer, 400, "VALIDATION_FAILED");
      CHECK(answer.json.at("details").contains(field));
    }
  }
  check_error(server.post("/api/v1/restore", "{not json"), 400, "INVALID_JSON");
  check_error(restore(server, document, "dry_run=maybe"), 400, "INVALID_PARAMETER");
  CHECK(log_position(server) == before);
  CHECK(get_json(server, "/api/v1/configs").at("configs").size() == 1);
}

TEST_CASE("a document larger than --max-body-bytes answers 413 until the server takes more") {
  // About 1.2 MiB of files: more than the default 1 MiB a request may carry.
  json document = {{"format", "muster-backup"}, {"format_version", 1}, {"configs", json::array()}};
  for (int index = 0; index < 40; ++index) {
    document["configs"].push_back(
        {{"name", fmt::format("config-{}", index)},
         {"versions", {{{"version", 1}, {"files", yaml_files("a.yaml", std::string(30'000, 'a' + index % 26))}}}}});
  }
  REQUIRE(document.dump().size() > (std::size_t{1} << 20));
  TempDir dir;
  {
    MusterServer server(dir.file("small"));
    check_error(restore(server, document), 413, "PAYLOAD_TOO_LARGE");
    const CommandResult cli = run_with_input(
        {"restore", "--url", fmt::format("http://127.0.0.1:{}", server.port()), "--key", server.admin_key()},
        document.dump());
    CHECK(cli.exit_code == 1);
    CHECK(cli.err.find("--max-body-bytes") != std::string::npos);
  }
  MusterServer server(dir.file("large"), {"--max-body-bytes", "67108864"});
  const HttpAnswer answer = restore(server, document);
  require_status(answer, 200);
  CHECK(answer.json.at("applied") == 40);
}

}  // namespace muster::e2e
