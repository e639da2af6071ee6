// API keys and enrollment tokens as aggregates on the runtime: who may make
// them where, revocation, max_uses held by the token's own actor however
// registrations race, legacy uses, and the token's snapshots.

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "actors/api_key/api_key_service.hpp"
#include "actors/enrollment/enrollment_service.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/enrollment/registration.hpp"
#include "actors/runtime/stream_id.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/projection_runner.hpp"

using namespace muster;

namespace {

constexpr TimeMs kWaitMs = 10'000;

const Principal kRoot{"root", Role::admin, "*"};

struct AccessFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  AgentRegistry registry;
  AccessProjection access;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<AgentService> agents;
  std::unique_ptr<ApiKeyService> keys;
  std::unique_ptr<EnrollmentService> enrollment;
  std::unique_ptr<Registrations> registrations;

  AccessFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    projections = std::make_unique<ProjectionRunner>(storage->events(), storage->snapshots(), registry, access, timers);
    REQUIRE(projections->start().ok());
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    const WhenFolded when_folded = [this](std::uint64_t position, std::function<void()> then) {
      projections->when_folded(position, std::move(then));
    };
    agents = std::make_unique<AgentService>(*actors, storage->events(), storage->last_seen(), registry,
                                            AgentServiceOptions{});
    keys = std::make_unique<ApiKeyService>(*actors, storage->events(), &access, when_folded);
    enrollment = std::make_unique<EnrollmentService>(*actors, storage->events(), storage->snapshots(), access,
                                                     when_folded);
    registrations = std::make_unique<Registrations>(*enrollment, *agents, registry);
  }

  ~AccessFixture() {
    agents->stop();
    keys->stop();
    enrollment->stop();
    actors->stop();
    projections->stop();
    storage->stop();
  }

  Result<IssuedApiKey> create_key(const Principal& creator, std::optional<std::string> org, Role role = Role::viewer) {
    return await_result<IssuedApiKey>(
        [&](auto done) { keys->create(creator, {"k", role, std::move(org)}, {}, std::move(done)); }, kWaitMs, "BUSY");
  }

  Result<std::uint64_t> revoke_key(const Principal& caller, const std::string& key_id) {
    return await_result<std::uint64_t>([&](auto done) { keys->revoke(caller, key_id, {}, std::move(done)); },
                                       kWaitMs, "BUSY");
  }

  IssuedEnrollmentToken create_token(std::optional<std::uint64_t> max_uses) {
    EnrollmentTokenRequest request;
    request.name = "rollout";
    request.max_uses = max_uses;
    request.labels = {{"region", "eu"}};
    auto issued = await_result<IssuedEnrollmentToken>(
        [&](auto done) { enrollment->create(kRoot, request, {}, std::move(done)); }, kWaitMs, "BUSY");
    REQUIRE(issued.ok());
    return *issued;
  }

  Result<AgentOutcome> register_with(const std::string& token, const std::string& instance_id) {
    const auto grant = registrations->admit(token);
    if (!grant) return make_error(ErrorCode::unauthenticated, "no grant", "INVALID_ENROLLMENT_TOKEN");
    Registration registration;
    registration.instance_id = instance_id;
    return agents->wait([&](AgentService::Done done) {
      registrations->register_agent(*grant, registration, {}, std::move(done));
    });
  }
};

}  // namespace

SCENARIO("API keys are made where their creator may, work at once, and are revoked once") {
  AccessFixture fixture;
  const Principal acme_admin{"a", Role::admin, "acme"};

  THEN("an unscoped creator makes keys in any organization, or for all") {
    const auto everywhere = fixture.create_key(kRoot, "*");
    REQUIRE(everywhere.ok());
    CHECK(everywhere->key.org == "*");
    CHECK(fixture.create_key(kRoot, std::nullopt)->key.org == "default");
    // It works as soon as the answer is given.
    CHECK(fixture.keys->authenticate(everywhere->plaintext)->key_id == everywhere->key.key_id);
  }
  THEN("a scoped creator makes keys only in its own organization") {
    CHECK(fixture.create_key(acme_admin, std::nullopt)->key.org == "acme");
    const auto elsewhere = fixture.create_key(acme_admin, "globex");
    REQUIRE_FALSE(elsewhere.ok());
    CHECK(elsewhere.error().reason == "FORBIDDEN");
  }
  THEN("revocation: a scoped caller cannot see another organization's key; a key is revoked once") {
    const auto in_globex = fixture.create_key(kRoot, "globex");
    REQUIRE(in_globex.ok());
    CHECK(fixture.revoke_key(acme_admin, in_globex->key.key_id).error().reason == "API_KEY_NOT_FOUND");
    CHECK(fixture.revoke_key(kRoot, "not-an-id").error().reason == "INVALID_KEY_ID");
    CHECK(fixture.revoke_key(kRoot, "0123456789abcdef").error().reason == "API_KEY_NOT_FOUND");
    REQUIRE(fixture.revoke_key(kRoot, in_globex->key.key_id).ok());
    CHECK_FALSE(fixture.keys->authenticate(in_globex->plaintext).has_value());
    CHECK(fixture.revoke_key(kRoot, in_globex->key.key_id).error().reason == "API_KEY_REVOKED");
    CHECK(fixture.keys->list(acme_admin).empty());
  }
}

TEST_CASE("max_uses holds however many registrations race through one token") {
  AccessFixture fixture;
  const IssuedEnrollmentToken token = fixture.create_token(5);
  std::atomic<int> registered{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> agents;
  for (int index = 0; index < 16; ++index) {
    agents.emplace_back([&, index] {
      const auto outcome = fixture.register_with(token.plaintext, "host-" + std::to_string(index));
      if (outcome.ok()) {
        ++registered;
      } else if (outcome.error().reason == "INVALID_ENROLLMENT_TOKEN") {
        ++refused;
      }
    });
  }
  for (auto& agent : agents) agent.join();
  CHECK(registered == 5);
  CHECK(refused == 11);
  REQUIRE(fixture.projections->wait_for_position(fixture.storage->events().head_position().value(),
                                                 std::chrono::seconds(10)));
  CHECK(fixture.access.enrollment_token(token.token.token_id)->total_uses() == 5);
}

TEST_CASE("a registration refused for a decommissioned instance spends no use") {
  AccessFixture fixture;
  const IssuedEnrollmentToken token = fixture.create_token(2);
  const auto first = fixture.register_with(token.plaintext, "host-1");
  REQUIRE(first.ok());
  CHECK(first->org == "default");
  REQUIRE(fixture.agents->wait([&](AgentService::Done done) {
    fixture.agents->decommission(first->agent_id, {}, {}, std::move(done));
  }).ok());
  CHECK(fixture.register_with(token.plaintext, "host-1").error().reason == "AGENT_DECOMMISSIONED");
  CHECK(fixture.register_with(token.plaintext, "host-2").ok());
}

TEST_CASE("uses recorded the old way count against max_uses") {
  AccessFixture fixture;
  const IssuedEnrollmentToken token = fixture.create_token(2);
  // A registration of a data dir from before EnrollmentTokenUsed.
  AgentTokenIssued old;
  old.token_sha256 = sha256("old");
  old.enrollment_token_id = token.token.token_id;
  NewEvent stored = encode_payload(AgentEvent{old});
  stored.schema_version = 1;
  stored.meta = "{}";
  const auto appended = fixture.storage->events().append("00000000-0000-4000-8000-000000000009", 0, {stored});
  REQUIRE(appended.ok());
  REQUIRE(fixture.projections->wait_for_position(appended->last_position, std::chrono::seconds(10)));
  CHECK(fixture.register_with(token.plaintext, "host-1").ok());
  CHECK(fixture.register_with(token.plaintext, "host-2").error().reason == "INVALID_ENROLLMENT_TOKEN");
}

TEST_CASE("a token's actor starts from its snapshot plus the tail, which equals a full fold") {
  AccessFixture fixture;
  const IssuedEnrollmentToken token = fixture.create_token(std::nullopt);
  const auto grant = fixture.enrollment->check(token.plaintext);
  REQUIRE(grant.has_value());
  Result<EnrollmentToken> last = make_error(ErrorCode::internal, "none");
  for (int use = 0; use < 2'500; ++use) {
    last = await_result<EnrollmentToken>(
        [&](auto done) {
          fixture.enrollment->use(*grant, AgentId::random(), "host-" + std::to_string(use), {}, std::move(done));
        },
        kWaitMs, "BUSY");
    REQUIRE(last.ok());
  }
  CHECK(last->uses == 2'500);
  const auto saved = fixture.storage->snapshots().get("aggregate:enrollment", token.token.token_id);
  REQUIRE(saved.ok());
  REQUIRE(saved->has_value());
  const auto snapshot = decode_enrollment_token(**saved);
  REQUIRE(snapshot.ok());
  CHECK(snapshot->version == 2'000);

  EnrollmentToken folded;
  auto stream = fixture.storage->events().read_stream(stream_name(kEnrollmentKind, token.token.token_id), 1, 10'000);
  REQUIRE(stream.ok());
  for (const Event& event : *stream) REQUIRE(apply(folded, event).ok());
  CHECK(folded == *last);

  // Passivated (idle past 30 s), the next use starts from the snapshot.
  fixture.timers.advance(31'000);
  for (int attempt = 0; attempt < 500 && fixture.enrollment->active_actors() != 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(fixture.enrollment->active_actors() == 0);
  const auto next = await_result<EnrollmentToken>(
      [&](auto done) { fixture.enrollment->use(*grant, AgentId::random(), "host-x", {}, std::move(done)); },
      kWaitMs, "BUSY");
  REQUIRE(next.ok());
  CHECK(next->uses == 2'501);
}
