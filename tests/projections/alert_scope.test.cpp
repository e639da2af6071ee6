// An alert rule's (or a maintenance window's) scope: what it reads, what it
// refuses naming the field, its JSON form read back, and which agents it
// covers, groups read from the config model.

#include "actors/alert/alert_scope.hpp"

#include <doctest/doctest.h>

#include "actors/agent/agent_events.hpp"
#include "actors/agent/agent_state.hpp"
#include "actors/group/group_state.hpp"
#include "projections/config_model.hpp"

using namespace muster;
using nlohmann::json;

namespace {

const AgentId kWeb = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
const AgentId kDb = *AgentId::parse("9a1e3f6c-8d2b-4c1f-9e7a-0b5d4c3a2f10");

template <class Variant>
Event stored(std::uint64_t position, const std::string& stream, std::uint64_t version, const Variant& payload) {
  const NewEvent encoded = encode_payload(payload);
  return Event{position, stream, version, encoded.type, 1000, encoded.schema_version, encoded.data, "{}"};
}

AgentState agent_with(const AgentId& id, std::map<std::string, std::string> labels) {
  AgentState state = fresh_agent_state(id);
  state.profile.labels = InternedLabels::of(labels);
  return state;
}

std::string field_of(const Result<AlertScope>& parsed) {
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == ErrorCode::invalid_argument);
  return parsed.error().field;
}

}  // namespace

TEST_CASE("a scope covers every agent, a group's, matching labels' or listed ones") {
  ConfigModel config;
  AgentProfile web_profile;
  web_profile.labels = InternedLabels::of({{"env", "prod"}, {"role", "web"}});
  AgentProfile db_profile;
  db_profile.labels = InternedLabels::of({{"env", "prod"}, {"role", "db"}});
  REQUIRE(config
              .apply({stored(1, "agent:" + kWeb.to_string(), 1,
                             AgentEvent{AgentRegistered{kWeb, "web", InternedString::of("acme"), web_profile}}),
                      stored(2, "agent:" + kDb.to_string(), 1,
                             AgentEvent{AgentRegistered{kDb, "db", InternedString::of("acme"), db_profile}}),
                      stored(3, "group:acme/web", 1, GroupEvent{GroupCreated{"acme", "web", {{"role", "web"}}, 0, ""}})})
              .ok());
  const AgentState web = agent_with(kWeb, {{"env", "prod"}, {"role", "web"}});
  const AgentState db = agent_with(kDb, {{"env", "prod"}, {"role", "db"}});

  for (const json& every : {json(nullptr), json::object()}) {
    const auto scope = parse_alert_scope(every, "scope");
    REQUIRE(scope.ok());
    CHECK(scope->kind == AlertScope::Kind::all);
    CHECK(scope->covers(web, config));
    CHECK(scope->to_json() == json::object());
  }
  const auto group = parse_alert_scope(json{{"group", "web"}}, "scope");
  REQUIRE(group.ok());
  CHECK(group->covers(web, config));
  CHECK_FALSE(group->covers(db, config));
  const auto missing_group = parse_alert_scope(json{{"group", "nope"}}, "scope");
  REQUIRE(missing_group.ok());  // a group may be created later
  CHECK_FALSE(missing_group->covers(web, config));

  const auto labels = parse_alert_scope(json{{"labels", {{"role", "db"}, {"env", "prod"}}}}, "scope");
  REQUIRE(labels.ok());
  CHECK(labels->depends_on_labels());
  CHECK(labels->covers(db, config));
  CHECK_FALSE(labels->covers(web, config));

  const auto agents = parse_alert_scope(json{{"agents", {kDb.to_string(), kDb.to_string()}}}, "scope");
  REQUIRE(agents.ok());
  CHECK(agents->agents.size() == 1);
  CHECK(agents->covers(db, config));
  CHECK_FALSE(agents->covers(web, config));

  for (const auto* scope : {&*group, &*labels, &*agents}) {
    const auto back = parse_alert_scope(scope->to_json(), "scope");
    REQUIRE(back.ok());
    CHECK(*back == *scope);
  }
}

TEST_CASE("a bad scope is refused naming the field") {
  CHECK(field_of(parse_alert_scope(json("prod"), "scope")) == "scope");
  CHECK(field_of(parse_alert_scope(json{{"group", "web"}, {"labels", {{"a", "b"}}}}, "scope")) == "scope");
  CHECK(field_of(parse_alert_scope(json{{"selector", {{"a", "b"}}}}, "scope")) == "scope");
  CHECK(field_of(parse_alert_scope(json{{"group", "Web Servers"}}, "scope")) == "scope.group");
  CHECK(field_of(parse_alert_scope(json{{"group", 7}}, "window.scope")) == "window.scope.group");
  CHECK(field_of(parse_alert_scope(json{{"labels", json::object()}}, "scope")) == "scope.labels");
  CHECK(field_of(parse_alert_scope(json{{"labels", {{"env", 1}}}}, "scope")) == "scope.labels");
  CHECK(field_of(parse_alert_scope(json{{"labels", {{"bad key", "x"}}}}, "scope")) == "scope.labels");
  CHECK(field_of(parse_alert_scope(json{{"agents", json::array()}}, "scope")) == "scope.agents");
  CHECK(field_of(parse_alert_scope(json{{"agents", {"not-a-uuid"}}}, "scope")) == "scope.agents");
  json too_many = json::array();
  for (std::size_t i = 0; i <= kMaxAlertScopeAgents; ++i) too_many.push_back(kWeb.to_string());
  CHECK(field_of(parse_alert_scope(json{{"agents", too_many}}, "scope")) == "scope.agents");
}
