// Configs and policies over HTTP against the real binary: every route,
// conditional updates, rollbacks, diffs, deletion (refused while assigned),
// organizations, a restart keeping every version, and the bad-input list.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

const std::string kConfigs = "/api/v1/configs";

httplib::Headers json_headers(const httplib::Headers& extra = {}) {
  httplib::Headers headers = extra;
  headers.emplace("Content-Type", "application/json");
  return headers;
}

HttpAnswer post_config(const MusterServer& server, const json& body, const std::string& query = "") {
  return server.post(with_query(kConfigs, query), body.dump());
}

HttpAnswer put_config(const MusterServer& server, const std::string& name, const json& files,
                      const httplib::Headers& headers = {}) {
  return server.send("PUT", kConfigs + "/" + name, json{{"files", files}, {"message", "change"}}.dump(),
                     json_headers(headers));
}

// Creates config `name` with `files`; REQUIREs 201 and returns its answer.
json made(const MusterServer& server, const std::string& name, const json& files,
          const std::string& kind = "config") {
  const HttpAnswer answer =
      post_config(server, {{"name", name}, {"kind", kind}, {"files", files}, {"message", "first"}});
  INFO("create " << name << ": " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 201);
  return answer.json;
}

// The author every version records for the admin key's requests.
std::string admin_author(const MusterServer& server) {
  return "key:" + server.admin_key().substr(3, 16);
}

}  // namespace

TEST_CASE("configs: create, read, update, conditional update, list, versions, diff, rollback, status") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string author = admin_author(server);

  const json v1_files = collector_files("receivers: [otlp]\nlevel: info\n");
  const json created = made(server, "collector", v1_files);
  CHECK(created.at("name") == "collector");
  CHECK(created.at("kind") == "config");
  CHECK(created.at("version") == 1);
  const std::string v1_hash = created.at("hash");
  CHECK(v1_hash.size() == 64);

  SUBCASE("the latest version reads back with its files, author and an ETag") {
    const HttpAnswer read = server.get(kConfigs + "/collector");
    REQUIRE(read.status == 200);
    CHECK(header_of(read, "ETag") == "\"" + v1_hash + "\"");
    CHECK(read.json.at("name") == "collector");
    CHECK(read.json.at("kind") == "config");
    CHECK(read.json.at("version") == 1);
    CHECK(read.json.at("hash") == v1_hash);
    CHECK(read.json.at("files") == v1_files);
    CHECK(read.json.at("message") == "first");
    CHECK(read.json.at("author") == author);
    CHECK(read.json.contains("created_at"));
    CHECK_FALSE(read.json.contains("rolled_back_from"));
  }

  SUBCASE("updates make versions; the same files again change nothing") {
    const HttpAnswer second =
        put_config(server, "collector", collector_files("receivers: [otlp]\nlevel: debug\n"));
    REQUIRE(second.status == 200);
    CHECK(second.json.at("version") == 2);
    CHECK(second.json.at("changed") == true);
    CHECK(second.json.at("hash") != v1_hash);

    const std::uint64_t before = log_position(server);
    const HttpAnswer same =
        put_config(server, "collector", collector_files("receivers: [otlp]\nlevel: debug\n"));
    REQUIRE(same.status == 200);
    CHECK(same.json.at("version") == 2);
    CHECK(same.json.at("changed") == false);
    CHECK(same.json.at("hash") == second.json.at("hash"));
    CHECK(log_position(server) == before);

    // Version 1 stays readable as it was.
    const json first = get_json(server, kConfigs + "/collector?version=1");
    CHECK(first.at("version") == 1);
    CHECK(first.at("files") == v1_files);
    CHECK(first.at("hash") == v1_hash);
  }

  SUBCASE("If-Match makes an update conditional: a stale version is 412 and changes nothing") {
    const HttpAnswer matched =
        put_config(server, "collector", collector_files("a: 2\n"), {{"If-Match", "1"}});
    REQUIRE(matched.status == 200);
    CHECK(matched.json.at("version") == 2);
    const std::uint64_t before = log_position(server);
    const HttpAnswer stale =
        put_config(server, "collector", collector_files("a: 3\n"), {{"If-Match", "\"1\""}});
    check_error(stale, 412, "VERSION_MISMATCH");
    CHECK(log_position(server) == before);
    const HttpAnswer quoted =
        put_config(server, "collector", collector_files("a: 3\n"), {{"If-Match", "\"2\""}});
    REQUIRE(quoted.status == 200);
    CHECK(quoted.json.at("version") == 3);
  }

  SUBCASE("the list shows each config's latest version") {
    put_config(server, "collector", collector_files("a: 2\n"));
    made(server, "edr", collector_files("mode: strict\n"), "policy");
    const json list = get_json(server, kConfigs);
    REQUIRE(list.at("configs").size() == 2);
    const json& collector = list.at("configs").at(0);
    CHECK(collector.at("name") == "collector");
    CHECK(collector.at("kind") == "config");
    CHECK(collector.at("latest_version") == 2);
    CHECK(collector.at("hash") == get_json(server, kConfigs + "/collector").at("hash"));
    CHECK(time_of(collector.at("updated_at")) >= time_of(collector.at("created_at")));
    const json& edr = list.at("configs").at(1);
    CHECK(edr.at("name") == "edr");
    CHECK(edr.at("kind") == "policy");
    CHECK(edr.at("latest_version") == 1);
  }

  SUBCASE("versions list every version without files; diff gives a unified diff per changed file") {
    REQUIRE(
        put_config(server, "collector",
                   {{"collector.yaml",
                     {{"content_type", "application/yaml"}, {"body", "receivers: [otlp]\nlevel: warn\n"}}},
                    {"extra/rules.json", {{"content_type", "application/json"}, {"body", "{}\n"}}}})
            .status == 200);
    const json versions = get_json(server, kConfigs + "/collector/versions");
    REQUIRE(versions.at("versions").size() == 2);
    for (const json& version : versions.at("versions")) {
      CHECK_FALSE(version.contains("files"));
      CHECK(version.at("author") == author);
    }
    CHECK(versions.at("versions").at(0).at("version") == 1);
    CHECK(versions.at("versions").at(0).at("hash") == v1_hash);
    CHECK(versions.at("versions").at(1).at("message") == "change");

    const json diff = get_json(server, kConfigs + "/collector/diff?from=1&to=2");
    CHECK(diff.at("from") == 1);
    CHECK(diff.at("to") == 2);
    REQUIRE(diff.at("files").size() == 2);
    CHECK(diff.at("files").at(0).at("name") == "collector.yaml");
    CHECK(diff.at("files").at(0).at("change") == "modified");
    CHECK(diff.at("files").at(0).at("diff") ==
          "--- v1/collector.yaml\n+++ v2/collector.yaml\n@@ -1,2 +1,2 @@\n receivers: [otlp]\n-level: info\n"
          "+level: warn\n");
    CHECK(diff.at("files").at(1).at("name") == "extra/rules.json");
    CHECK(diff.at("files").at(1).at("change") == "added");
    CHECK(diff.at("files").at(1).at("diff") ==
          "--- /dev/null\n+++ v2/extra/rules.json\n@@ -0,0 +1 @@\n+{}\n");

    const json back = get_json(server, kConfigs + "/collector/diff?from=2&to=1");
    REQUIRE(back.at("files").size() == 2);
    CHECK(back.at("files").at(1).at("change") == "removed");
    CHECK(get_json(server, kConfigs + "/collector/diff?from=2&to=2").at("files").empty());
  }

  SUBCASE("a rollback makes a new version equal to the old one, once") {
    REQUIRE(put_config(server, "collector", collector_files("a: 2\n")).status == 200);
    REQUIRE(put_config(server, "collector", collector_files("a: 3\n")).status == 200);
    const HttpAnswer rolled = server.post(kConfigs + "/collector/rollback",
                                          json{{"version", 1}, {"message", "bad rollout"}}.dump());
    REQUIRE(rolled.status == 200);
    CHECK(rolled.json.at("name") == "collector");
    CHECK(rolled.json.at("version") == 4);
    CHECK(rolled.json.at("hash") == v1_hash);
    CHECK(rolled.json.at("rolled_back_from") == 1);
    CHECK(rolled.json.at("changed") == true);
    const json latest = get_json(server, kConfigs + "/collector");
    CHECK(latest.at("version") == 4);
    CHECK(latest.at("files") == v1_files);
    CHECK(latest.at("rolled_back_from") == 1);
    CHECK(latest.at("message") == "bad rollout");

    const std::uint64_t before = log_position(server);
    const HttpAnswer again = server.post(kConfigs + "/collector/rollback", json{{"version", 1}}.dump());
    REQUIRE(again.status == 200);
    CHECK(again.json.at("version") == 4);
    CHECK(again.json.at("changed") == false);
    CHECK(log_position(server) == before);
    // Every earlier version is still there.
    CHECK(get_json(server, kConfigs + "/collector?version=3").at("files") == collector_files("a: 3\n"));
  }

  SUBCASE("status counts the agents given the config, per status") {
    const json status = get_json(server, kConfigs + "/collector/status");
    CHECK(status.at("name") == "collector");
    const json& counts = status.at("counts");
    for (const char* name : {"none", "pending", "applying", "applied", "failed", "drifted"}) {
      CAPTURE(name);
      CHECK(counts.at(name) == 0);
    }
  }

  SUBCASE("a deleted config answers 404; made again, its versions continue and the old ones read again") {
    const HttpAnswer deleted = server.del(kConfigs + "/collector");
    REQUIRE(deleted.status == 200);
    CHECK(deleted.json.at("name") == "collector");
    CHECK(deleted.json.at("deleted") == true);
    for (const std::string& path :
         {kConfigs + "/collector", kConfigs + "/collector?version=1", kConfigs + "/collector/versions",
          kConfigs + "/collector/status", kConfigs + "/collector/diff?from=1&to=1"}) {
      CAPTURE(path);
      check_error(server.get(path), 404, "CONFIG_NOT_FOUND");
    }
    CHECK(get_json(server, kConfigs).at("configs").empty());
    check_error(server.del(kConfigs + "/collector"), 404, "CONFIG_NOT_FOUND");
    check_error(put_config(server, "collector", collector_files("a: 9\n")), 404, "CONFIG_NOT_FOUND");

    const json again = made(server, "collector", collector_files("a: 9\n"));
    CHECK(again.at("version") == 2);
    CHECK(get_json(server, kConfigs + "/collector?version=1").at("hash") == v1_hash);
  }
}

TEST_CASE("configs: organizations keep their configs apart") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const HttpAnswer key = server.post(
      "/api/v1/api-keys", json{{"name", "globex-ops"}, {"role", "operator"}, {"org", "globex"}}.dump());
  REQUIRE(key.status == 201);
  const httplib::Headers globex = {{"Authorization", "Bearer " + key.json.at("key").get<std::string>()},
                                   {"Content-Type", "application/json"}};
  const json body = {{"name", "collector"}, {"files", collector_files("org: globex\n")}};
  const HttpAnswer scoped = server.send("POST", kConfigs, body.dump(), globex);
  REQUIRE(scoped.status == 201);

  // The unscoped admin sees it under ?org=globex only; "default" has its own.
  CHECK(get_json(server, kConfigs).at("configs").empty());
  CHECK(get_json(server, kConfigs + "?org=globex").at("configs").size() == 1);
  check_error(server.get(kConfigs + "/collector"), 404, "CONFIG_NOT_FOUND");
  made(server, "collector", collector_files("org: default\n"));
  CHECK(get_json(server, kConfigs + "/collector?org=globex").at("files") == collector_files("org: globex\n"));
  CHECK(get_json(server, kConfigs + "/collector").at("files") == collector_files("org: default\n"));

  // A scoped key works in its own organization and may not name another.
  CHECK(server.send("GET", kConfigs + "/collector", "", globex).json.at("files") ==
        collector_files("org: globex\n"));
  check_error(server.send("GET", kConfigs + "?org=default", "", globex), 403, "FORBIDDEN");
  check_error(server.send("POST", kConfigs + "?org=default", body.dump(), globex), 403, "FORBIDDEN");
}

TEST_CASE("configs: a restart keeps every version, its author, message and time") {
  TempDir dir;
  const std::string data = dir.file("data");
  json before;
  {
    MusterServer server(data);
    made(server, "collector", collector_files("a: 1\n"));
    REQUIRE(put_config(server, "collector", collector_files("a: 2\n")).status == 200);
    REQUIRE(server.post(kConfigs + "/collector/rollback", json{{"version", 1}}.dump()).status == 200);
    made(server, "edr", collector_files("mode: strict\n"), "policy");
    REQUIRE(server.del(kConfigs + "/edr").status == 200);
    before = get_json(server, kConfigs + "/collector/versions");
    REQUIRE(before.at("versions").size() == 3);
    REQUIRE(server.terminate() == 0);
  }
  MusterServer server(data);
  CHECK(get_json(server, kConfigs + "/collector/versions") == before);
  for (std::uint64_t version = 1; version <= 3; ++version) {
    const json read = get_json(server, fmt::format("{}/collector?version={}", kConfigs, version));
    CHECK(read.at("files") == collector_files(version == 2 ? "a: 2\n" : "a: 1\n"));
  }
  CHECK(get_json(server, kConfigs + "/collector").at("rolled_back_from") == 1);
  check_error(server.get(kConfigs + "/edr"), 404, "CONFIG_NOT_FOUND");
  const json list = get_json(server, kConfigs);
  REQUIRE(list.at("configs").size() == 1);
  CHECK(list.at("configs").at(0).at("latest_version") == 3);
}

TEST_CASE("configs: deleting a config refused while a group is assigned it") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  made(server, "collector", collector_files("a: 1\n"));
  REQUIRE(
      server.post("/api/v1/groups", json{{"name", "prod"}, {"selector", {{"env", "prod"}}}}.dump()).status ==
      201);
  const auto assign = [&](const json& assignment) {
    const HttpAnswer answer =
        server.send("PUT", "/api/v1/groups/prod/assignment", assignment.dump(), json_headers());
    INFO("assign: " << answer.status << " " << answer.body);
    REQUIRE(answer.status == 200);
  };
  assign({{"config", "collector"}, {"version", "latest"}});
  const std::uint64_t before = log_position(server);
  check_error(server.del(kConfigs + "/collector"), 409, "CONFIG_IN_USE");
  CHECK(log_position(server) == before);
  CHECK(get_json(server, kConfigs + "/collector").at("version") == 1);

  assign(json::object());
  REQUIRE(server.del(kConfigs + "/collector").status == 200);
}

TEST_CASE("configs: bad input is refused naming what is wrong, and changes nothing") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--max-config-bytes", "4096"});
  made(server, "collector", collector_files("a: 1\n"));
  REQUIRE(put_config(server, "collector", collector_files("a: 2\n")).status == 200);

  struct Case {
    std::string what;
    std::string method;
    std::string path;
    std::string body;
    httplib::Headers headers;
    int status;
    std::string code;
    std::string field;  ///< The member of `details` that must name the problem; empty: none.
  };
  const auto create = [](const std::string& what, json body, const std::string& field) {
    if (!body.contains("name")) body["name"] = "fresh";
    return Case{what, "POST", kConfigs, body.dump(), {}, 400, "VALIDATION_FAILED", field};
  };
  const auto with_files = [](json files) { return json{{"files", std::move(files)}}; };
  json too_many = json::object();
  for (int file = 0; file <= 256; ++file) {
    too_many[fmt::format("f{}.yaml", file)] = {{"content_type", "text/plain"}, {"body", ""}};
  }
  const json file_ok = {{"content_type", "text/plain"}, {"body", "x"}};
  std::vector<Case> cases = {
      create("an invalid name", {{"name", "Collector"}, {"files", collector_files("a")}}, "name"),
      create("a name starting with a dash", {{"name", "-x"}, {"files", collector_files("a")}}, "name"),
      create("a name of 64 characters", {{"name", std::string(64, 'a')}, {"files", collector_files("a")}},
             "name"),
      create("a name that is not a string", {{"name", 7}, {"files", collector_files("a")}}, "name"),
      create("an unknown kind", {{"kind", "script"}, {"files", collector_files("a")}}, "kind"),
      create("no files", json::object(), "files"),
      create("files not an object", {{"files", "a: 1"}}, "files"),
      create("an empty file map", {{"files", json::object()}}, "files"),
      create("more than 256 files", {{"files", too_many}}, "files"),
      create("a file name with ..", with_files({{"a/../b", file_ok}}), "files.a/../b"),
      create("a file name starting with /", with_files({{"/etc/passwd", file_ok}}), "files./etc/passwd"),
      create("a file name starting with .", with_files({{".hidden", file_ok}}), "files..hidden"),
      create("a file name with a space", with_files({{"a b", file_ok}}), "files.a b"),
      create("a file without content_type", with_files({{"a.yaml", {{"body", "x"}}}}), "files.a.yaml"),
      create("a file whose body is not a string",
             with_files({{"a.yaml", {{"content_type", "t"}, {"body", 1}}}}), "files.a.yaml"),
      create("a file that is not an object", with_files({{"a.yaml", "x"}}), "files.a.yaml"),
      create("bodies over --max-config-bytes",
             with_files({{"a.yaml", {{"content_type", "t"}, {"body", std::string(4000, 'x')}}},
                         {"b.yaml", {{"content_type", "t"}, {"body", std::string(97, 'x')}}}}),
             "files"),
      create("a message that is not a string", {{"files", collector_files("a")}, {"message", 1}}, "message"),
      {"an existing name",
       "POST",
       kConfigs,
       json{{"name", "collector"}, {"files", collector_files("b")}}.dump(),
       {},
       409,
       "CONFIG_EXISTS",
       ""},
      {"an update of an unknown config",
       "PUT",
       kConfigs + "/nope",
       with_files(collector_files("b")).dump(),
       {},
       404,
       "CONFIG_NOT_FOUND",
       ""},
      {"an update with an empty file map",
       "PUT",
       kConfigs + "/collector",
       with_files(json::object()).dump(),
       {},
       400,
       "VALIDATION_FAILED",
       "files"},
      {"If-Match that is not a number",
       "PUT",
       kConfigs + "/collector",
       with_files(collector_files("b")).dump(),
       {{"If-Match", "\"abc\""}},
       400,
       "INVALID_HEADER",
       "If-Match"},
      {"If-Match of version 0",
       "PUT",
       kConfigs + "/collector",
       with_files(collector_files("b")).dump(),
       {{"If-Match", "0"}},
       400,
       "INVALID_HEADER",
       "If-Match"},
      {"a rollback of an unknown config",
       "POST",
       kConfigs + "/nope/rollback",
       json{{"version", 1}}.dump(),
       {},
       404,
       "CONFIG_NOT_FOUND",
       ""},
      {"a rollback to a version that does not exist",
       "POST",
       kConfigs + "/collector/rollback",
       json{{"version", 9}}.dump(),
       {},
       400,
       "VERSION_NOT_FOUND",
       "version"},
      {"a rollback without a version",
       "POST",
       kConfigs + "/collector/rollback",
       "{}",
       {},
       400,
       "VALIDATION_FAILED",
       "version"},
      {"a rollback to version \"1\"",
       "POST",
       kConfigs + "/collector/rollback",
       json{{"version", "1"}}.dump(),
       {},
       400,
       "VALIDATION_FAILED",
       "version"},
      {"a rollback to version 0",
       "POST",
       kConfigs + "/collector/rollback",
       json{{"version", 0}}.dump(),
       {},
       400,
       "VALIDATION_FAILED",
       "version"},
      {"a deletion of an unknown config", "DELETE", kConfigs + "/nope", "", {}, 404, "CONFIG_NOT_FOUND", ""},
      {"a path name no config may have",
       "GET",
       kConfigs + "/Collector",
       "",
       {},
       400,
       "VALIDATION_FAILED",
       "name"},
      {"an unknown config", "GET", kConfigs + "/nope", "", {}, 404, "CONFIG_NOT_FOUND", ""},
      {"the versions of an unknown config",
       "GET",
       kConfigs + "/nope/versions",
       "",
       {},
       404,
       "CONFIG_NOT_FOUND",
       ""},
      {"the status of an unknown config",
       "GET",
       kConfigs + "/nope/status",
       "",
       {},
       404,
       "CONFIG_NOT_FOUND",
       ""},
      {"?version not a number",
       "GET",
       kConfigs + "/collector?version=abc",
       "",
       {},
       400,
       "INVALID_PARAMETER",
       "version"},
      {"?version=-1", "GET", kConfigs + "/collector?version=-1", "", {}, 400, "INVALID_PARAMETER", "version"},
      {"?version=0", "GET", kConfigs + "/collector?version=0", "", {}, 400, "VERSION_NOT_FOUND", "version"},
      {"?version past the latest",
       "GET",
       kConfigs + "/collector?version=3",
       "",
       {},
       400,
       "VERSION_NOT_FOUND",
       "version"},
      {"a diff without from",
       "GET",
       kConfigs + "/collector/diff?to=2",
       "",
       {},
       400,
       "INVALID_PARAMETER",
       "from"},
      {"a diff without to",
       "GET",
       kConfigs + "/collector/diff?from=1",
       "",
       {},
       400,
       "INVALID_PARAMETER",
       "to"},
      {"a diff from x",
       "GET",
       kConfigs + "/collector/diff?from=x&to=2",
       "",
       {},
       400,
       "INVALID_PARAMETER",
       "from"},
      {"a diff to a version that does not exist",
       "GET",
       kConfigs + "/collector/diff?from=1&to=7",
       "",
       {},
       400,
       "VERSION_NOT_FOUND",
       "to"},
      {"a diff of an unknown config",
       "GET",
       kConfigs + "/nope/diff?from=1&to=2",
       "",
       {},
       404,
       "CONFIG_NOT_FOUND",
       ""},
      {"an org that is not a name", "GET", kConfigs + "?org=a%20b", "", {}, 400, "INVALID_PARAMETER", "org"},
      {"a body that is not JSON", "POST", kConfigs, "{name", {}, 400, "INVALID_JSON", "body"},
  };
  for (const Case& bad : cases) {
    CAPTURE(bad.what);
    const std::uint64_t before = log_position(server);
    httplib::Headers headers = bad.headers;
    if (!bad.body.empty()) headers.emplace("Content-Type", "application/json");
    const HttpAnswer answer = server.send(bad.method, bad.path, bad.body, headers);
    check_error(answer, bad.status, bad.code);
    if (!bad.field.empty()) {
      INFO("details: " << answer.json.value("details", json()).dump());
      CHECK(answer.json.value("details", json::object()).contains(bad.field));
    }
    CHECK(log_position(server) == before);
  }
  // What the bounds admit is taken.
  CHECK(post_config(server,
                    {{"name", "at-bound"},
                     {"files", {{"a.yaml", {{"content_type", "t"}, {"body", std::string(4096, 'x')}}}}}})
            .status == 201);
  const json versions = get_json(server, kConfigs + "/collector/versions");
  CHECK(versions.at("versions").size() == 2);
}

TEST_CASE("configs: a version at the default --max-config-bytes needs a larger --max-body-bytes to arrive") {
  const json at_limit = {
      {"name", "big"},
      {"files", {{"big.txt", {{"content_type", "text/plain"}, {"body", std::string(1 << 20, 'x')}}}}}};
  json over_limit = at_limit;
  over_limit["files"]["extra.txt"] = {{"content_type", "text/plain"}, {"body", "x"}};
  TempDir dir;
  {
    MusterServer server(dir.file("default"));
    check_error(post_config(server, at_limit), 413, "PAYLOAD_TOO_LARGE");
  }
  MusterServer server(dir.file("raised"), {"--max-body-bytes", "2097152"});
  const HttpAnswer over = post_config(server, over_limit);
  check_error(over, 400, "VALIDATION_FAILED");
  CHECK(over.json.at("details").contains("files"));
  REQUIRE(post_config(server, at_limit).status == 201);
  CHECK(get_json(server, kConfigs + "/big").at("files").at("big.txt").at("body").get<std::string>().size() ==
        std::size_t{1} << 20);
}

}  // namespace muster::e2e
