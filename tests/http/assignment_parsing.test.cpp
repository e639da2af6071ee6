// Assignment bodies and group selectors: what they read into, and each
// refusal naming its field.

#include <doctest/doctest.h>

#include <string>

#include "http/assignment_parsing.hpp"

using namespace muster;
using namespace muster::http;
using nlohmann::json;

namespace {

Assignment accepted(const json& body) {
  const auto parsed = parse_assignment(body);
  INFO("body: " << body.dump());
  REQUIRE(std::holds_alternative<Assignment>(parsed));
  return std::get<Assignment>(parsed);
}

// The refusal of `body`; REQUIREs one, naming `field`.
Invalid refused(const json& body, const std::string& field) {
  const auto parsed = parse_assignment(body);
  INFO("body: " << body.dump());
  REQUIRE(std::holds_alternative<Invalid>(parsed));
  const Invalid& invalid = std::get<Invalid>(parsed);
  CHECK(invalid.code == "VALIDATION_FAILED");
  CHECK(invalid.details.contains(field));
  return invalid;
}

// A settings object nested `levels` deep ({"a": {"a": ... {}}}).
json nested_settings(std::size_t levels) {
  json value = json::object();
  for (std::size_t level = 1; level < levels; ++level) value = json{{"a", value}};
  return value;
}

}  // namespace

TEST_CASE("an assignment body reads into config, version, policies and settings") {
  const Assignment full = accepted(json::parse(R"({
      "config": "web", "version": 3,
      "policies": ["hardening", {"name": "audit", "version": 2}, {"name": "tls", "version": "latest"}],
      "settings": {"log_level": "debug", "limits": {"cpu": 2}}})"));
  REQUIRE(full.config);
  CHECK(full.config->name == "web");
  CHECK(full.config->version == 3);
  REQUIRE(full.policies.size() == 3);
  CHECK(full.policies[0] == ConfigRef{"hardening", 0});
  CHECK(full.policies[1] == ConfigRef{"audit", 2});
  CHECK(full.policies[2] == ConfigRef{"tls", 0});
  CHECK(full.settings == json{{"log_level", "debug"}, {"limits", {{"cpu", 2}}}});

  SUBCASE("the version defaults to latest, and \"latest\" says so") {
    CHECK(accepted(json{{"config", "web"}}).config->version == 0);
    CHECK(accepted(json{{"config", "web"}, {"version", "latest"}}).config->version == 0);
  }
  SUBCASE("policies or settings alone are an assignment") {
    CHECK_FALSE(accepted(json{{"policies", json::array({"hardening"})}}).config);
    CHECK(accepted(json{{"settings", {{"x", 1}}}}).settings == json{{"x", 1}});
  }
  SUBCASE("an empty body, or one of empty or null members, clears: empty() says so") {
    for (const json& body : {json::object(), json{{"policies", json::array()}, {"settings", json::object()}},
                             json{{"config", nullptr}, {"policies", nullptr}, {"settings", nullptr}}}) {
      CHECK(accepted(body).empty());
    }
  }
  SUBCASE("it survives the events' encoding unchanged") {
    auto decoded = assignment_from_json(assignment_to_json(full));
    REQUIRE(decoded.ok());
    CHECK(*decoded == full);
  }
}

TEST_CASE("a bad assignment body is refused, each field named, all at once") {
  SUBCASE("config names follow the config name rule") {
    for (const json& name :
         {json("Web"), json(""), json("-web"), json(std::string(64, 'a')), json(5), json("a b")}) {
      refused(json{{"config", name}}, "config");
    }
    CHECK(accepted(json{{"config", std::string(63, 'a')}}).config->name == std::string(63, 'a'));
  }
  SUBCASE("versions are whole numbers from 1, or \"latest\"") {
    for (const json& version :
         {json(0), json(-1), json(1.5), json("3"), json("newest"), json::array(), json(true)}) {
      refused(json{{"config", "web"}, {"version", version}}, "version");
    }
  }
  SUBCASE("a version needs a config") {
    const Invalid invalid = refused(json{{"version", 2}}, "version");
    CHECK(invalid.details["version"].get<std::string>().find("config") != std::string::npos);
  }
  SUBCASE("policies: an array of distinct valid names, each a name or {name, version}, bounded") {
    refused(json{{"policies", "hardening"}}, "policies");
    refused(json{{"policies", json::array({"hardening", "hardening"})}}, "policies");
    refused(json{{"policies", json::array({"ok", json{{"name", "ok"}, {"version", 2}}})}}, "policies");
    refused(json{{"policies", json::array({"Bad Name"})}}, "policies");
    refused(json{{"policies", json::array({json{{"version", 2}}})}}, "policies");
    refused(json{{"policies", json::array({json{{"name", "a"}, {"version", 0}}})}}, "policies");
    refused(json{{"policies", json::array({json{{"name", "a"}, {"extra", 1}}})}}, "policies");
    refused(json{{"policies", json::array({5})}}, "policies");
    json many = json::array();
    for (std::size_t index = 0; index <= kMaxPolicies; ++index) many.push_back("p" + std::to_string(index));
    refused(json{{"policies", many}}, "policies");
    many.erase(many.end() - 1);
    CHECK(accepted(json{{"policies", many}}).policies.size() == kMaxPolicies);
  }
  SUBCASE("settings: an object, bounded in depth and size") {
    for (const json& settings : {json::array(), json("x"), json(1)})
      refused(json{{"settings", settings}}, "settings");
    CHECK(accepted(json{{"settings", nested_settings(kMaxSettingsDepth)}}).settings ==
          nested_settings(kMaxSettingsDepth));
    refused(json{{"settings", nested_settings(kMaxSettingsDepth + 1)}}, "settings");
    refused(json{{"settings", {{"big", std::string(kMaxSettingsBytes, 'x')}}}}, "settings");
  }
  SUBCASE("members that are not an assignment's are refused, so a typo never clears one") {
    refused(json{{"config", "web"}, {"polices", json::array({"hardening"})}}, "polices");
  }
  SUBCASE("every bad field is named at once") {
    const Invalid invalid = refused(
        json{{"config", "Web"}, {"version", 0}, {"policies", 1}, {"settings", 1}, {"extra", 1}}, "config");
    for (const char* field : {"version", "policies", "settings", "extra"}) {
      CAPTURE(field);
      CHECK(invalid.details.contains(field));
    }
  }
}

TEST_CASE("a selector is an object of string to string under the rule of agents' labels") {
  const auto parsed = parse_selector(json{{"env", "prod"}, {"team/x", ""}});
  REQUIRE(std::holds_alternative<LabelSelector>(parsed));
  CHECK(std::get<LabelSelector>(parsed) == LabelSelector{{"env", "prod"}, {"team/x", ""}});
  CHECK(std::get<LabelSelector>(parse_selector(json::object())).empty());

  for (const json& bad :
       {json::array(), json("env=prod"), json{{"env", 1}}, json{{"env", nullptr}}, json{{"bad key", "x"}},
        json{{"", "x"}}, json{{"env", "a\nb"}}, json{{"env", std::string(257, 'x')}}}) {
    CAPTURE(bad.dump());
    const auto refusal = parse_selector(bad);
    REQUIRE(std::holds_alternative<Invalid>(refusal));
    CHECK(std::get<Invalid>(refusal).details.contains("selector"));
  }
  // The same rule as registration's labels, which reads through it.
  json labels = json::object();
  for (int index = 0; index < 65; ++index) labels["k" + std::to_string(index)] = "v";
  CHECK(std::holds_alternative<Invalid>(parse_selector(labels)));
  CHECK(std::holds_alternative<Invalid>(parse_registration(json{{"instance_id", "a"}, {"labels", labels}})));
}
