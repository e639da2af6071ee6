// Configs: each decision stored as the log stores it and folded back from
// there; the rules of versions (idempotent updates, If-Match, rollbacks,
// deletion and re-creation) and that a recorded log folds to the live state.

#include <doctest/doctest.h>

#include "actors/config/config_decider.hpp"
#include "actors/event_catalogue.hpp"

using namespace muster;

namespace {

const std::string kId = org_scoped_id("acme", "collector");
const std::string kConfigStream = "config:" + kId;
const std::string kAuthor = "key:0123456789abcdef";

SharedConfigFiles files_of(std::initializer_list<std::pair<const std::string, ConfigFile>> files) {
  return std::make_shared<const ConfigFiles>(files);
}

SharedConfigFiles yaml(const std::string& body) {
  return files_of({{"collector.yaml", {"application/yaml", body}}});
}

// A config and every stored event that made it: decisions are committed as
// the store keeps them (encoded, with position, version and time) and folded
// back from that form.
struct Recorded {
  Config config = ConfigAggregate::initial_state(kId);
  std::vector<Event> log;

  // Decides `command` at `time_ms`; commits what it decides. Returns the decision.
  Result<std::vector<ConfigEvent>> run(const ConfigCommand& command, TimeMs time_ms) {
    runtime::DecideContext context{time_ms};
    auto decided = ConfigAggregate::decide(config, command, context);
    if (!decided) return decided;
    for (const ConfigEvent& event : *decided) {
      const NewEvent proposed = encode_payload(event);
      log.push_back(Event{log.size() + 1, kConfigStream, config.version + 1, proposed.type, time_ms,
                          proposed.schema_version, proposed.data, "{}"});
      REQUIRE(ConfigAggregate::apply(config, log.back()).ok());
    }
    return decided;
  }

  Config fold_log() const {
    Config folded = ConfigAggregate::initial_state(kId);
    for (const Event& event : log) REQUIRE(ConfigAggregate::apply(folded, event).ok());
    return folded;
  }
};

CreateConfig create_command(SharedConfigFiles files, ConfigKind kind = ConfigKind::config) {
  return CreateConfig{"acme", "collector", kind, "the collector", std::move(files), "first", kAuthor};
}

AddConfigVersion add_command(SharedConfigFiles files, std::optional<std::uint64_t> expected = std::nullopt) {
  return AddConfigVersion{std::move(files), "change", kAuthor, expected};
}

std::string reason_of(const Result<std::vector<ConfigEvent>>& decided) {
  REQUIRE_FALSE(decided.ok());
  return decided.error().reason;
}

}  // namespace

TEST_CASE("the config's id names its org and name, and its stream") {
  const Config config = ConfigAggregate::initial_state(kId);
  CHECK(config.org == "acme");
  CHECK(config.name == "collector");
  CHECK(ConfigAggregate::stream_of(config) == "config:acme/collector");
}

SCENARIO("a config's versions fold from the log it was decided into") {
  Recorded recorded;
  GIVEN("a config created with one file") {
    REQUIRE(recorded.run(create_command(yaml("a: 1\n")), 1000).ok());
    THEN("it exists with version 1, its hash and its author") {
      CHECK(recorded.config.exists);
      CHECK(recorded.config.kind == ConfigKind::config);
      CHECK(recorded.config.description == "the collector");
      REQUIRE(recorded.config.versions.size() == 1);
      const ConfigVersion& first = recorded.config.versions[0];
      CHECK(first.number == 1);
      CHECK(first.hash == hash_files(*yaml("a: 1\n")));
      CHECK(first.author == kAuthor);
      CHECK(first.message == "first");
      CHECK(first.created_at_ms == 1000);
    }
    WHEN("it is created again") {
      THEN("it is refused as existing, and nothing is decided") {
        CHECK(reason_of(recorded.run(create_command(yaml("b: 2\n")), 2000)) == "CONFIG_EXISTS");
        CHECK(recorded.log.size() == 2);
      }
    }
    WHEN("a version with other files is added") {
      REQUIRE(recorded.run(add_command(yaml("a: 2\n")), 2000).ok());
      THEN("it is version 2, and version 1 is unchanged") {
        REQUIRE(recorded.config.versions.size() == 2);
        CHECK(recorded.config.latest()->number == 2);
        CHECK(recorded.config.latest()->hash == hash_files(*yaml("a: 2\n")));
        CHECK(recorded.config.versions[0].hash == hash_files(*yaml("a: 1\n")));
        CHECK(recorded.config.updated_at_ms == 2000);
      }
    }
    WHEN("a version with the same files is added") {
      const auto decided = recorded.run(add_command(yaml("a: 1\n")), 2000);
      THEN("nothing is decided: the latest version answers") {
        REQUIRE(decided.ok());
        CHECK(decided->empty());
        CHECK(recorded.config.versions.size() == 1);
      }
    }
    WHEN("an update expects the latest version") {
      THEN("it is added") {
        CHECK(recorded.run(add_command(yaml("a: 3\n"), 1), 2000).ok());
      }
    }
    WHEN("an update expects a version that is not the latest") {
      REQUIRE(recorded.run(add_command(yaml("a: 2\n")), 2000).ok());
      const auto decided = recorded.run(add_command(yaml("a: 3\n"), 1), 3000);
      THEN("it is refused as a failed precondition, and nothing is added") {
        CHECK(reason_of(decided) == "VERSION_MISMATCH");
        CHECK(decided.error().code == ErrorCode::failed_precondition);
        CHECK(recorded.config.versions.size() == 2);
      }
    }
    WHEN("it is rolled back to version 1 after two changes") {
      REQUIRE(recorded.run(add_command(yaml("a: 2\n")), 2000).ok());
      REQUIRE(recorded.run(add_command(yaml("a: 3\n")), 3000).ok());
      REQUIRE(recorded.run(RollbackConfig{1, "", kAuthor}, 4000).ok());
      THEN("version 4 has version 1's files and says so") {
        const ConfigVersion& latest = *recorded.config.latest();
        CHECK(latest.number == 4);
        CHECK(latest.hash == recorded.config.versions[0].hash);
        CHECK(*latest.files == *recorded.config.versions[0].files);
        CHECK(latest.rolled_back_from == 1);
        CHECK(latest.message == "rollback to version 1");
      }
      THEN("rolling back to version 1 again adds nothing") {
        const auto again = recorded.run(RollbackConfig{1, "again", kAuthor}, 5000);
        REQUIRE(again.ok());
        CHECK(again->empty());
        CHECK(recorded.config.versions.size() == 4);
      }
    }
    WHEN("it is rolled back to a version it does not have") {
      THEN("it is refused naming the version, and nothing is added") {
        for (const std::uint64_t missing : {std::uint64_t{0}, std::uint64_t{2}}) {
          CAPTURE(missing);
          const auto decided = recorded.run(RollbackConfig{missing, "", kAuthor}, 2000);
          CHECK(reason_of(decided) == "VERSION_NOT_FOUND");
          CHECK(decided.error().code == ErrorCode::invalid_argument);
          CHECK(decided.error().field == "version");
        }
        CHECK(recorded.config.versions.size() == 1);
      }
    }
    WHEN("it is deleted") {
      REQUIRE(recorded.run(add_command(yaml("a: 2\n")), 2000).ok());
      REQUIRE(recorded.run(DeleteConfig{}, 3000).ok());
      THEN("it no longer exists, its versions stay, and changes find nothing") {
        CHECK_FALSE(recorded.config.exists);
        CHECK(recorded.config.versions.size() == 2);
        CHECK(reason_of(recorded.run(add_command(yaml("a: 3\n")), 4000)) == "CONFIG_NOT_FOUND");
        CHECK(reason_of(recorded.run(RollbackConfig{1, "", kAuthor}, 4000)) == "CONFIG_NOT_FOUND");
        CHECK(reason_of(recorded.run(DeleteConfig{}, 4000)) == "CONFIG_NOT_FOUND");
      }
      AND_WHEN("it is created again, as a policy") {
        REQUIRE(recorded.run(create_command(yaml("a: 1\n"), ConfigKind::policy), 5000).ok());
        THEN("its versions continue from the last number") {
          CHECK(recorded.config.exists);
          CHECK(recorded.config.kind == ConfigKind::policy);
          REQUIRE(recorded.config.versions.size() == 3);
          CHECK(recorded.config.latest()->number == 3);
          CHECK(recorded.config.latest()->hash == recorded.config.versions[0].hash);
          CHECK(recorded.config.created_at_ms == 5000);
        }
      }
    }
  }
  GIVEN("no config") {
    THEN("updates, rollbacks and deletions find nothing") {
      CHECK(reason_of(recorded.run(add_command(yaml("a: 1\n")), 1000)) == "CONFIG_NOT_FOUND");
      CHECK(reason_of(recorded.run(RollbackConfig{1, "", kAuthor}, 1000)) == "CONFIG_NOT_FOUND");
      CHECK(reason_of(recorded.run(DeleteConfig{}, 1000)) == "CONFIG_NOT_FOUND");
      CHECK(recorded.log.empty());
    }
    THEN("a creation without files is refused naming them") {
      const auto decided = recorded.run(create_command(files_of({})), 1000);
      CHECK(reason_of(decided) == "VALIDATION_FAILED");
      CHECK(decided.error().field == "files");
    }
  }
}

TEST_CASE("a config's recorded log of every command folds to its live state") {
  Recorded recorded;
  REQUIRE(recorded.run(create_command(yaml("a: 1\n")), 1000).ok());
  REQUIRE(recorded
              .run(add_command(files_of({{"collector.yaml", {"application/yaml", "a: 2\n"}},
                                         {"extra/rules.json", {"application/json", "{}"}}})),
                   2000)
              .ok());
  REQUIRE(recorded.run(RollbackConfig{1, "back", kAuthor}, 3000).ok());
  REQUIRE(recorded.run(DeleteConfig{}, 4000).ok());
  REQUIRE(recorded.run(create_command(yaml("a: 5\n")), 5000).ok());
  CHECK(recorded.fold_log() == recorded.config);
  CHECK(recorded.log.size() == 7);
  for (const Event& event : recorded.log) {
    CAPTURE(event.type);
    const EventType* type = find_event_type(event.type);
    REQUIRE(type != nullptr);
    CHECK(type->stream_kind == kConfigKind);
  }
}
