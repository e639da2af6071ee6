// The backup document: what backup_to_json writes, parse_backup reads back
// unchanged; and what it refuses beyond the field checks the e2e suite
// covers (http/backup_document.hpp).

#include <doctest/doctest.h>

#include <memory>

#include "http/backup_document.hpp"

using namespace muster;
using namespace muster::http;
using nlohmann::json;

namespace {

ConfigVersion make_version(std::uint64_t number, const std::string& body, std::uint64_t rolled_back_from = 0) {
  ConfigVersion version;
  version.number = number;
  ConfigFiles files{{"a.yaml", ConfigFile{"application/yaml", body}}};
  version.hash = hash_files(files);
  version.files = std::make_shared<const ConfigFiles>(std::move(files));
  version.message = "v" + std::to_string(number);
  version.author = "key:0123456789abcdef";
  version.created_at_ms = 1'700'000'000'000 + static_cast<TimeMs>(number) * 1000;
  version.rolled_back_from = rolled_back_from;
  return version;
}

Backup sample() {
  Backup backup;
  backup.org = "acme";
  backup.created_at_ms = 1'700'000'100'000;
  backup.log_position = 42;
  Config collector;
  collector.name = "collector";
  collector.description = "the collector";
  collector.versions = {make_version(1, "a"), make_version(2, "b"), make_version(3, "a", 1)};
  Config security;
  security.name = "security";
  security.kind = ConfigKind::policy;
  security.versions = {make_version(4, "audit")};
  backup.configs = {collector, security};
  const AgentId member = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
  const AgentId solo = *AgentId::parse("0f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f11");
  Group prod;
  prod.name = "prod";
  prod.selector = {{"env", "prod"}};
  prod.priority = -3;
  prod.description = "production";
  prod.members = {member};
  prod.assignment = Assignment{ConfigRef{"collector", 2}, {ConfigRef{"security", 0}}, json{{"log_level", "info"}}};
  Group bare;
  bare.name = "bare";
  backup.groups = {prod, bare};
  backup.agents = {BackupAgent{solo, "solo-1", Assignment{ConfigRef{"collector", 0}, {}, json::object()}}};
  backup.instances = {{member, "web-1"}, {solo, "solo-1"}};
  return backup;
}

Backup read_back(const json& document) {
  auto parsed = parse_backup(document, kDefaultMaxConfigBytes);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) FAIL("refused: " << invalid->details.dump());
  return std::get<Backup>(std::move(parsed));
}

}  // namespace

TEST_CASE("a backup document reads back as the backup it was written from") {
  const Backup written = sample();
  const json document = backup_to_json(written);
  CHECK(document.at("format") == "muster-backup");
  CHECK(document.at("created_at") == "2023-11-14T22:15:00.000Z");
  const Backup read = read_back(document);
  CHECK(read.org == written.org);
  CHECK(read.created_at_ms == written.created_at_ms);
  CHECK(read.log_position == written.log_position);
  REQUIRE(read.configs.size() == 2);
  for (std::size_t index = 0; index < read.configs.size(); ++index) {
    const Config& left = read.configs[index];
    const Config& right = written.configs[index];
    CHECK(left.name == right.name);
    CHECK(left.kind == right.kind);
    CHECK(left.description == right.description);
    CHECK(left.versions == right.versions);
  }
  REQUIRE(read.groups.size() == 2);
  for (std::size_t index = 0; index < read.groups.size(); ++index) {
    const Group& left = read.groups[index];
    const Group& right = written.groups[index];
    CHECK(left.name == right.name);
    CHECK(left.selector == right.selector);
    CHECK(left.priority == right.priority);
    CHECK(left.description == right.description);
    CHECK(left.members == right.members);
    CHECK(left.assignment == right.assignment);
  }
  REQUIRE(read.agents.size() == 1);
  CHECK(read.agents[0].agent_id == written.agents[0].agent_id);
  CHECK(read.agents[0].instance_id == "solo-1");
  CHECK(read.agents[0].assignment == written.agents[0].assignment);
  CHECK(read.instances == written.instances);
  // Written again, the same document.
  CHECK(backup_to_json(read) == document);
}

TEST_CASE("a backup document whose parts do not hold together is refused naming the field") {
  const json document = backup_to_json(sample());
  const auto refused = [](const json& bad, const std::string& field) {
    const auto parsed = parse_backup(bad, kDefaultMaxConfigBytes);
    INFO("field: " << field);
    REQUIRE(std::holds_alternative<Invalid>(parsed));
    CHECK(std::get<Invalid>(parsed).code == "VALIDATION_FAILED");
    CHECK(std::get<Invalid>(parsed).details.contains(field));
  };
  json bad = document;
  bad["configs"][0]["versions"][1]["version"] = 1;
  refused(bad, "configs[0].versions[1].version");
  bad = document;
  bad["configs"][0]["versions"][2]["rolled_back_from"] = 2;
  refused(bad, "configs[0].versions[2].rolled_back_from");
  bad = document;
  bad["configs"][0]["kind"] = "policy";
  refused(bad, "groups[0].assignment.config");
  bad = document;
  bad["groups"][0]["assignment"]["policies"][0]["version"] = 2;
  refused(bad, "groups[0].assignment.policies");
  bad = document;
  bad["groups"][1]["name"] = "prod";
  refused(bad, "groups[1].name");
  bad = document;
  bad["groups"][0]["description"] = "tab\there";
  refused(bad, "groups[0].description");
  bad = document;
  bad["agents"].push_back(bad["agents"][0]);
  refused(bad, "agents[1].agent_id");
  bad = document;
  bad["created_at"] = "yesterday";
  refused(bad, "created_at");
  bad = document;
  bad["configs"] = json::object();
  refused(bad, "configs");
  // Another format: only that is said.
  bad = document;
  bad["format_version"] = 2;
  bad["configs"] = "nonsense";
  const auto other = parse_backup(bad, kDefaultMaxConfigBytes);
  REQUIRE(std::holds_alternative<Invalid>(other));
  CHECK(std::get<Invalid>(other).details == json{{"format_version", "must be 1: the version this server reads"}});
  CHECK(std::holds_alternative<Invalid>(parse_backup(json::array(), kDefaultMaxConfigBytes)));
}
