// OpAMP's messages in muster's terms: what an OpenTelemetry Collector's
// description registers as, what its health and config maps become.

#include <doctest/doctest.h>

#include "http/opamp/opamp_codec.hpp"
#include "http/request_parsing.hpp"

using namespace muster;
using namespace muster::http;

namespace {

const std::string kUid("\x01\x8f\x1d\x2a\x44\x55\x76\x01\x80\x01\x02\x03\x04\x05\x06\x07", 16);

void add(google::protobuf::RepeatedPtrField<opamp::KeyValue>* list, const std::string& key,
         const std::string& value) {
  auto* attribute = list->Add();
  attribute->set_key(key);
  attribute->mutable_value()->set_string_value(value);
}

}  // namespace

SCENARIO("a collector's description becomes a registration") {
  opamp::AgentDescription description;
  add(description.mutable_identifying_attributes(), "service.name", "otelcol-contrib");
  add(description.mutable_identifying_attributes(), "service.version", "0.98.0");
  add(description.mutable_non_identifying_attributes(), "host.name", "web-1");
  add(description.mutable_non_identifying_attributes(), "os.type", "linux");
  auto* arch = description.mutable_non_identifying_attributes()->Add();
  arch->set_key("host.cpu.count");
  arch->mutable_value()->set_int_value(8);

  WHEN("it names no service.instance.id") {
    const Registration registration = registration_of(description, kUid);
    THEN("the instance_uid in UUID form is its instance id, and the well-known attributes fill its profile") {
      CHECK(registration.instance_id == "018f1d2a-4455-7601-8001-020304050607");
      CHECK(registration.type == "otelcol-contrib");
      CHECK(registration.version == "0.98.0");
      CHECK(registration.hostname == "web-1");
      REQUIRE(registration.labels);
      CHECK(*registration.labels ==
            std::map<std::string, std::string>{{"opamp/os.type", "linux"}, {"opamp/host.cpu.count", "8"}});
    }
  }
  WHEN("it names one") {
    add(description.mutable_identifying_attributes(), "service.instance.id", "collector-7");
    CHECK(registration_of(description, kUid).instance_id == "collector-7");
  }
  WHEN("its service.instance.id is not an instance id muster takes") {
    add(description.mutable_identifying_attributes(), "service.instance.id", "has space");
    CHECK(registration_of(description, kUid).instance_id == "018f1d2a-4455-7601-8001-020304050607");
  }
  WHEN("an attribute carries a control character or a key labels cannot hold") {
    add(description.mutable_non_identifying_attributes(), "evil", "line\nbreak");
    add(description.mutable_non_identifying_attributes(), "spaced key", "x");
    const auto labels = *registration_of(description, kUid).labels;
    CHECK(labels.count("opamp/evil") == 0);
    CHECK(labels.count("opamp/spaced key") == 0);
  }
  WHEN("it has more attributes than a registration takes labels") {
    for (int index = 0; index < 100; ++index) {
      add(description.mutable_non_identifying_attributes(), "a" + std::to_string(index), "v");
    }
    CHECK(registration_of(description, kUid).labels->size() == 64);
  }
}

TEST_CASE("new instance uids are UUIDv7: time first, version 7, RFC 4122 variant") {
  const std::string uid = new_instance_uid(0x018f1d2a4455);
  REQUIRE(uid.size() == kInstanceUidBytes);
  const std::string text = uuid_text(uid);
  CHECK(text.substr(0, 13) == "018f1d2a-4455");
  CHECK(text[14] == '7');
  CHECK(std::string("89ab").find(text[19]) != std::string::npos);
  CHECK(new_instance_uid(0x018f1d2a4455) != uid);
}

TEST_CASE("health keeps the error and the components, bounded in depth") {
  opamp::ComponentHealth health;
  health.set_healthy(false);
  health.set_last_error("exporter otlp: connection refused");
  opamp::ComponentHealth* level = &(*health.mutable_component_health_map())["pipeline"];
  for (int depth = 0; depth < 10; ++depth) level = &(*level->mutable_component_health_map())["inner"];
  const auto json = health_to_json(health);
  CHECK(json["healthy"] == false);
  CHECK(json["last_error"] == "exporter otlp: connection refused");
  int depth = 0;
  for (const nlohmann::json* at = &json; at->contains("components"); ++depth) {
    at = &at->at("components").begin().value();
  }
  CHECK(depth == 4);
}

TEST_CASE("an effective config map becomes files only if muster could hold it") {
  opamp::AgentConfigMap map;
  (*map.mutable_config_map())["collector.yaml"].set_body("receivers: {}\n");
  (*map.mutable_config_map())["collector.yaml"].set_content_type("text/yaml");
  const auto files = files_of(map, 1024);
  REQUIRE(files);
  CHECK(files->at("collector.yaml").body == "receivers: {}\n");
  CHECK_FALSE(files_of(map, 4));  // over the byte bound
  (*map.mutable_config_map())["../etc/passwd"].set_body("x");
  CHECK_FALSE(files_of(map, 1024));
}

TEST_CASE("hashes are 32 bytes on the wire and 64 hex digits in muster") {
  std::string fives;
  for (int index = 0; index < 32; ++index) fives += "5a";
  CHECK(hash_hex_of(std::string(32, '\x5a')) == fives);
  CHECK(hash_hex_of(std::string(32, '\xff')) == std::string(64, 'f'));
  CHECK(hash_hex_of("short").empty());
  CHECK(report_status_of(opamp::RemoteConfigStatuses_APPLIED) == ConfigReportStatus::applied);
  CHECK(report_status_of(opamp::RemoteConfigStatuses_FAILED) == ConfigReportStatus::failed);
  CHECK_FALSE(report_status_of(opamp::RemoteConfigStatuses_UNSET));
  CHECK_FALSE(report_status_of(42));
}

TEST_CASE("capabilities are shown by name") {
  CHECK(capability_names(opamp::AgentCapabilities_ReportsStatus | opamp::AgentCapabilities_AcceptsRestartCommand |
                         (1ull << 40)) == std::vector<std::string>{"ReportsStatus", "AcceptsRestartCommand"});
}
