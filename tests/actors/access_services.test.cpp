// API keys and enrollment tokens as aggregates on the runtime: who may make
// them where, revocation, max_uses held by the token's own actor however
// registrations race, legacy uses, and the token's snapshots.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "actors/api_key/api_key_service.hpp"
#include "actors/enrollment/enrollment_service.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/enrollment/registration.hpp"
#include "actors/runtime/stream_id.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/access_projection.hpp"
#include "projections/config_model.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/await_limit.hpp"
#include "tests/support/eventually.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;

const Principal kRoot{"root", Role::admin, "*"};

// A disk as slow as the test wants: while held, appends wait (unwritten,
// unanswered) until released, as behind a sync that takes seconds.
class SlowEventStore final : public EventStore {
 public:
  explicit SlowEventStore(EventStore& inner) : inner_(inner) {}

  void hold() {
    std::lock_guard<std::mutex> lock(mutex_);
    holding_ = true;
  }
  /// Writes what was held, in order, and stops holding.
  void release() {
    std::vector<std::function<void()>> held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      holding_ = false;
      held.swap(held_);
    }
    for (auto& append : held) append();
  }
  std::size_t held() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.size();
  }

  void append_async(std::string stream, std::uint64_t expected_version, std::vector<NewEvent> events,
                    AppendCallback done) override {
    auto append = [this, stream = std::move(stream), expected_version, events = std::move(events),
                   done = std::move(done)]() mutable {
      inner_.append_async(std::move(stream), expected_version, std::move(events), std::move(done));
    };
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (holding_) return held_.push_back(std::move(append));
    }
    append();
  }
  Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                         std::size_t max_count) const override {
    return inner_.read_stream(stream, from_version, max_count);
  }
  Result<std::vector<Event>> read_log(std::uint64_t from_position, std::size_t max_count) const override {
    return inner_.read_log(from_position, max_count);
  }
  Result<std::uint64_t> head_position() const override { return inner_.head_position(); }
  Result<std::uint64_t> stream_version(const std::string& stream) const override {
    return inner_.stream_version(stream);
  }
  Result<std::uint64_t> wait_for_position(std::uint64_t after_position,
                                          std::chrono::milliseconds timeout) const override {
    return inner_.wait_for_position(after_position, timeout);
  }
  void stop() override { release(); }

 private:
  EventStore& inner_;
  mutable std::mutex mutex_;
  bool holding_ = false;
  std::vector<std::function<void()>> held_;
};

struct AccessFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<SlowEventStore> slow_store;
  AgentRegistry registry;
  AccessProjection access;
  ConfigModel configs;
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
    projections =
        std::make_unique<ProjectionRunner>(storage->events(), storage->snapshots(),
                                                     std::vector<ReadModel*>{&registry, &access, &configs}, timers);
    REQUIRE(projections->start().ok());
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    const WhenFolded when_folded = [this](std::uint64_t position, std::function<void()> then) {
      projections->when_folded(position, std::move(then));
    };
    // The services write through the slow store; the read models read the real one.
    slow_store = std::make_unique<SlowEventStore>(storage->events());
    agents = std::make_unique<AgentService>(*actors, *slow_store, storage->last_seen(), registry,
                                            AgentServiceOptions{});
    keys = std::make_unique<ApiKeyService>(*actors, *slow_store, &access, when_folded);
    enrollment = std::make_unique<EnrollmentService>(*actors, *slow_store, storage->snapshots(), access,
                                                     when_folded);
    registrations = std::make_unique<Registrations>(*enrollment, *agents, registry);
  }

  ~AccessFixture() {
    slow_store->release();
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

  IssuedEnrollmentToken create_token(std::optional<std::uint64_t> max_uses, std::optional<std::string> org = {}) {
    EnrollmentTokenRequest request;
    request.name = "rollout";
    request.org = std::move(org);
    request.max_uses = max_uses;
    request.labels = {{"region", "eu"}};
    auto issued = await_result<IssuedEnrollmentToken>(
        [&](auto done) { enrollment->create(kRoot, request, {}, std::move(done)); }, kWaitMs, "BUSY");
    REQUIRE(issued.ok());
    return *issued;
  }

  Result<AgentOutcome> register_with(const std::string& token, const std::string& instance_id,
                                     TimeMs patience_ms = kWaitMs) {
    const auto grant = registrations->admit(token);
    if (!grant) return make_error(ErrorCode::unauthenticated, "no grant", "INVALID_ENROLLMENT_TOKEN");
    Registration registration;
    registration.instance_id = instance_id;
    return await_result<AgentOutcome>(
        [&](AgentService::Done done) { registrations->register_agent(*grant, registration, {}, std::move(done)); },
        patience_ms, "AGENT_BUSY");
  }

  /// Idle past the passivation time (30 s), every token actor leaves memory:
  /// the next command loads it afresh.
  bool passivate_tokens() {
    timers.advance(31'000);
    return testing::eventually([&] { return enrollment->active_actors() == 0; }, std::chrono::seconds(1));
  }

  Result<AgentOutcome> deregister(const AgentId& agent_id) {
    return agents->wait(
        [&](AgentService::Done done) { agents->deregister(agent_id, {}, {}, std::move(done)); });
  }

  EnrollmentToken token_after_all_writes(const std::string& token_id) {
    REQUIRE(projections->wait_for_position(storage->events().head_position().value(), std::chrono::seconds(10)));
    const auto token = access.enrollment_token(token_id);
    REQUIRE(token.has_value());
    return *token;
  }

  std::size_t events_of_type(const std::string& type) {
    auto log = storage->events().read_log(1, 100'000);
    REQUIRE(log.ok());
    return static_cast<std::size_t>(
        std::count_if(log->begin(), log->end(), [&](const Event& event) { return event.type == type; }));
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
  // An old data directory's uses are in the log before its token's actor
  // starts; here the actor is live since the token's creation, so it goes first.
  REQUIRE(fixture.passivate_tokens());
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
  CHECK(fixture.passivate_tokens());
  const auto next = await_result<EnrollmentToken>(
      [&](auto done) { fixture.enrollment->use(*grant, AgentId::random(), "host-x", {}, std::move(done)); },
      kWaitMs, "BUSY");
  REQUIRE(next.ok());
  CHECK(next->uses == 2'501);
}

TEST_CASE("regression: registrations whose callers gave up on a slow write never pass max_uses") {
  AccessFixture fixture;
  const IssuedEnrollmentToken token = fixture.create_token(1);
  fixture.slow_store->hold();
  // Each caller waits 50 ms and gives up (the HTTP layer answers 503), while
  // the first use's write is still on its way to the disk.
  for (const char* instance : {"host-1", "host-2", "host-3"}) {
    const auto answer = fixture.register_with(token.plaintext, instance, /*patience_ms=*/50);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().code == ErrorCode::unavailable);
  }
  CHECK(fixture.slow_store->held() == 1);  // the first use; the others wait at the token
  fixture.slow_store->release();

  // Every write lands or fails: one use, one agent.
  bool settled = false;
  for (int attempt = 0; attempt < 1000 && !settled; ++attempt) {
    settled = fixture.events_of_type("AgentRegistered") >= 1;
    if (!settled) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(settled);
  // The two refused ones are decided once the first use is durable; a fourth
  // registration queues behind them, so its answer comes after theirs.
  CHECK(fixture.register_with(token.plaintext, "host-4").error().reason == "INVALID_ENROLLMENT_TOKEN");
  CHECK(fixture.token_after_all_writes(token.token.token_id).total_uses() == 1);
  CHECK(fixture.events_of_type("EnrollmentTokenUsed") == 1);
  CHECK(fixture.events_of_type("AgentRegistered") == 1);
}

SCENARIO("regression: a known instance registering again spends no use, through a live token only") {
  AccessFixture fixture;
  const IssuedEnrollmentToken token = fixture.create_token(1);
  const auto first = fixture.register_with(token.plaintext, "host-1");
  REQUIRE(first.ok());
  CHECK(first->created);
  CHECK(fixture.token_after_all_writes(token.token.token_id).total_uses() == 1);

  THEN("the used-up token admits no new instance") {
    CHECK(fixture.register_with(token.plaintext, "host-2").error().reason == "INVALID_ENROLLMENT_TOKEN");
  }
  THEN("it re-registers the known instance, live or deregistered, without a use") {
    const auto again = fixture.register_with(token.plaintext, "host-1");
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    CHECK(again->agent_id == first->agent_id);
    REQUIRE(fixture.deregister(first->agent_id).ok());
    const auto back = fixture.register_with(token.plaintext, "host-1");
    REQUIRE(back.ok());
    CHECK(back->agent_id == first->agent_id);
    CHECK(back->status == AgentStatus::online);
    CHECK(fixture.token_after_all_writes(token.token.token_id).total_uses() == 1);
    CHECK(fixture.events_of_type("EnrollmentTokenUsed") == 1);
  }
  THEN("a revoked token re-registers nobody") {
    const auto before_revocation = fixture.registrations->admit(token.plaintext);
    REQUIRE(before_revocation.has_value());
    CHECK(before_revocation->used_up);
    REQUIRE(await_result<std::uint64_t>(
                [&](auto done) { fixture.enrollment->revoke(kRoot, token.token.token_id, {}, std::move(done)); },
                kWaitMs, "BUSY")
                .ok());
    CHECK(fixture.register_with(token.plaintext, "host-1").error().reason == "INVALID_ENROLLMENT_TOKEN");
    // Not even if the read model has not seen the revocation yet: the token's actor decides.
    Registration registration;
    registration.instance_id = "host-1";
    const auto refused = fixture.agents->wait([&](AgentService::Done done) {
      fixture.registrations->register_agent(*before_revocation, registration, {}, std::move(done));
    });
    CHECK(refused.error().reason == "INVALID_ENROLLMENT_TOKEN");
  }
  THEN("an expired token re-registers nobody") {
    fixture.timers.advance(31LL * 24 * 3600 * 1000);
    CHECK(fixture.register_with(token.plaintext, "host-1").error().reason == "INVALID_ENROLLMENT_TOKEN");
  }
  THEN("the same instance id in another organization is a new instance there") {
    const IssuedEnrollmentToken acme = fixture.create_token(1, "acme");
    REQUIRE(fixture.register_with(acme.plaintext, "host-9").ok());
    CHECK(fixture.register_with(acme.plaintext, "host-1").error().reason == "INVALID_ENROLLMENT_TOKEN");
  }
}
