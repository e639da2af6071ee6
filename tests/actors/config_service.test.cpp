// The config service on the real runtime and the in-memory store: answers
// only once the config model holds the write, authors every version with the
// caller's principal, and lets one of racing conditional updates win.

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "actors/config/config_service.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/access_projection.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/await_limit.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;

SharedConfigFiles yaml_files(const std::string& body) {
  return std::make_shared<const ConfigFiles>(ConfigFiles{{"collector.yaml", {"application/yaml", body}}});
}

RequestContext as(const std::string& principal) {
  RequestContext context;
  context.principal = principal;
  return context;
}

struct ConfigFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  AgentRegistry registry;
  AccessProjection access;
  ConfigModel configs;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<ConfigService> service;

  ConfigFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    projections = std::make_unique<ProjectionRunner>(storage->events(), storage->snapshots(),
                                                     std::vector<ReadModel*>{&registry, &access, &configs}, timers);
    REQUIRE(projections->start().ok());
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    service = std::make_unique<ConfigService>(*actors, storage->events(), &configs,
                                              [this](std::uint64_t position, std::function<void()> then) {
                                                projections->when_folded(position, std::move(then));
                                              });
  }

  ~ConfigFixture() {
    service->stop();
    actors->stop();
    projections->stop();
    storage->stop();
  }

  Result<ConfigWrite> create(const std::string& name, SharedConfigFiles files,
                             const std::string& principal = "key:creator") {
    return await_result<ConfigWrite>(
        [&](auto done) {
          service->create(
              CreateConfig{"acme", name, ConfigKind::config, "", std::move(files), "first", "forged"},
              as(principal), std::move(done));
        },
        kWaitMs, "BUSY");
  }

  Result<ConfigWrite> update(const std::string& name, SharedConfigFiles files,
                             std::optional<std::uint64_t> expected = std::nullopt,
                             const std::string& principal = "key:editor") {
    return await_result<ConfigWrite>(
        [&](auto done) {
          service->update("acme", name, AddConfigVersion{std::move(files), "change", "", expected},
                          as(principal), std::move(done));
        },
        kWaitMs, "BUSY");
  }

  Result<std::uint64_t> remove(const std::string& name) {
    return await_result<std::uint64_t>(
        [&](auto done) { service->remove("acme", name, as("key:admin"), std::move(done)); }, kWaitMs, "BUSY");
  }
};

}  // namespace

SCENARIO("the config service writes versions and answers once they are readable") {
  ConfigFixture fixture;
  GIVEN("a config created by one key") {
    const auto created = fixture.create("collector", yaml_files("a: 1\n"));
    REQUIRE(created.ok());
    THEN("the answer is version 1, authored by the caller, and the read models hold it") {
      CHECK(created->name == "collector");
      CHECK(created->changed);
      CHECK(created->latest.number == 1);
      CHECK(created->latest.author == "key:creator");
      CHECK(created->latest.hash == hash_files(*yaml_files("a: 1\n")));
      CHECK(fixture.projections->position() >= created->position);
    }
    WHEN("another key adds a version") {
      const auto updated = fixture.update("collector", yaml_files("a: 2\n"));
      REQUIRE(updated.ok());
      THEN("it is version 2, authored by that key") {
        CHECK(updated->changed);
        CHECK(updated->latest.number == 2);
        CHECK(updated->latest.author == "key:editor");
        CHECK(updated->position > created->position);
      }
    }
    WHEN("the same files are sent again") {
      const auto again = fixture.update("collector", yaml_files("a: 1\n"));
      THEN("nothing changes and version 1 answers") {
        REQUIRE(again.ok());
        CHECK_FALSE(again->changed);
        CHECK(again->latest.number == 1);
        CHECK(again->position == created->position);
      }
    }
    WHEN("it is deleted") {
      const auto deleted = fixture.remove("collector");
      THEN("the deletion answers its position, and a second one finds nothing") {
        REQUIRE(deleted.ok());
        CHECK(*deleted > created->position);
        const auto twice = fixture.remove("collector");
        REQUIRE_FALSE(twice.ok());
        CHECK(twice.error().reason == "CONFIG_NOT_FOUND");
      }
    }
  }
  GIVEN("a name no config may have") {
    THEN("every command is refused naming the name") {
      for (const std::string& bad :
           std::vector<std::string>{"", "Upper", "-dash", std::string(64, 'a'), "a/b"}) {
        CAPTURE(bad);
        const auto created = fixture.create(bad, yaml_files("a: 1\n"));
        REQUIRE_FALSE(created.ok());
        CHECK(created.error().field == "name");
        const auto removed = fixture.remove(bad);
        REQUIRE_FALSE(removed.ok());
        CHECK(removed.error().field == "name");
      }
    }
  }
}

TEST_CASE("of conditional config updates racing on one version, exactly one wins") {
  ConfigFixture fixture;
  REQUIRE(fixture.create("collector", yaml_files("a: 0\n")).ok());
  constexpr int kRacers = 8;
  std::atomic<int> won{0};
  std::atomic<int> mismatched{0};
  std::vector<std::thread> racers;
  for (int racer = 0; racer < kRacers; ++racer) {
    racers.emplace_back([&, racer] {
      const auto updated =
          fixture.update("collector", yaml_files("a: " + std::to_string(racer + 1) + "\n"), 1);
      if (updated.ok()) {
        ++won;
      } else if (updated.error().reason == "VERSION_MISMATCH") {
        ++mismatched;
      }
    });
  }
  for (std::thread& racer : racers) racer.join();
  CHECK(won == 1);
  CHECK(mismatched == kRacers - 1);
}
