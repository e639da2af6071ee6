// The access read model: API keys and enrollment tokens folded from their
// streams, checked in memory; legacy enrollment uses counted from old agent
// events; snapshots equal to a full fold.

#include "projections/access_projection.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/access/credentials.hpp"
#include "actors/agent/agent_events.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/timers.hpp"
#include "eventstore/memory_storage.hpp"

using namespace muster;

namespace {

struct AccessFixture {
  ManualTimerService timers{1'000'000};
  std::unique_ptr<Storage> storage;
  AccessProjection access;

  AccessFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
  }

  template <class Variant>
  std::uint64_t append(const std::string& stream, const Variant& event, std::uint32_t schema_version = 0) {
    NewEvent stored = encode_payload(event);
    if (schema_version != 0) stored.schema_version = schema_version;
    stored.meta = "{}";
    const std::uint64_t version = storage->events().stream_version(stream).value();
    auto appended = storage->events().append(stream, version, {stored});
    REQUIRE(appended.ok());
    return appended->last_position;
  }

  // A key as the API key service makes one; returns its plaintext.
  std::string issue_key(Role role, const std::string& org, std::string* key_id = nullptr) {
    auto made = new_credential(kApiKeyPrefix);
    REQUIRE(made.ok());
    append(stream_name(kApiKeyKind, made->id),
           ApiKeyEvent{ApiKeyCreated{made->id, "key", role, org, made->secret_sha256}});
    if (key_id != nullptr) *key_id = made->id;
    return made->plaintext;
  }

  // A token expiring 60 s from now; returns its plaintext.
  std::string issue_token(std::optional<std::uint64_t> max_uses, std::string* token_id) {
    auto made = new_credential(kEnrollmentTokenPrefix);
    REQUIRE(made.ok());
    append(stream_name(kEnrollmentKind, made->id),
           EnrollmentEvent{EnrollmentTokenCreated{made->id, "rollout", "acme", {{"env", "prod"}},
                                                  timers.now_ms() + 60'000, max_uses, made->secret_sha256}});
    *token_id = made->id;
    return made->plaintext;
  }

  void catch_up(AccessProjection& model) {
    auto log = storage->events().read_log(1, 100'000);
    REQUIRE(log.ok());
    REQUIRE(model.apply(*log).ok());
  }
};

}  // namespace

SCENARIO("API keys authenticate by their secret until revoked") {
  AccessFixture fixture;
  std::string viewer_id;
  const std::string admin = fixture.issue_key(Role::admin, "*");
  const std::string viewer = fixture.issue_key(Role::viewer, "acme", &viewer_id);
  fixture.catch_up(fixture.access);
  const AccessProjection& access = fixture.access;

  THEN("each key maps to its principal") {
    CHECK(access.authenticate(admin)->role == Role::admin);
    const auto principal = access.authenticate(viewer);
    REQUIRE(principal.has_value());
    CHECK(principal->role == Role::viewer);
    CHECK(principal->org == "acme");
    CHECK(principal->key_id == viewer_id);
  }
  THEN("anything else is refused") {
    std::string tampered = admin;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    for (const std::string& bad : {tampered, admin.substr(0, 20), std::string(""), std::string("Bearer ") + admin,
                                   "mk_0123456789abcdef_" + admin.substr(20)}) {
      CAPTURE(bad);
      CHECK_FALSE(access.authenticate(bad).has_value());
    }
  }
  THEN("a revoked key stops working") {
    fixture.append(stream_name(kApiKeyKind, viewer_id), ApiKeyEvent{ApiKeyRevoked{}});
    fixture.catch_up(fixture.access);
    CHECK_FALSE(access.authenticate(viewer).has_value());
    CHECK(access.authenticate(admin).has_value());
    CHECK(access.key(viewer_id)->revoked);
  }
  THEN("the log holds the digest, never the secret") {
    auto log = fixture.storage->events().read_log(1, 10);
    REQUIRE(log.ok());
    for (const Event& event : *log) {
      CHECK(event.data.find(admin.substr(20)) == std::string::npos);
      CHECK(event.data.find(viewer.substr(20)) == std::string::npos);
    }
  }
}

TEST_CASE("roles are ordered: admin may do what operator may, operator what viewer may") {
  CHECK(role_allows(Role::admin, Role::operator_));
  CHECK(role_allows(Role::operator_, Role::viewer));
  CHECK_FALSE(role_allows(Role::viewer, Role::operator_));
  CHECK_FALSE(role_allows(Role::operator_, Role::admin));
  CHECK(parse_role("operator") == Role::operator_);
  CHECK_FALSE(parse_role("root").has_value());
}

SCENARIO("an enrollment token passes the read model's check while live, unexpired and not used up") {
  AccessFixture fixture;
  std::string unlimited_id;
  std::string twice_id;
  const std::string unlimited = fixture.issue_token(std::nullopt, &unlimited_id);
  const std::string twice = fixture.issue_token(2, &twice_id);
  fixture.catch_up(fixture.access);
  AccessProjection& access = fixture.access;
  const TimeMs now = fixture.timers.now_ms();

  THEN("a live token's check names it and its organization; nothing else passes") {
    const auto grant = access.check_enrollment(unlimited, now);
    REQUIRE(grant.has_value());
    CHECK(grant->token_id == unlimited_id);
    CHECK(grant->org == "acme");
    std::string tampered = unlimited;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    for (const std::string& bad : {tampered, std::string(""), unlimited_id, "mk" + unlimited.substr(2)}) {
      CAPTURE(bad);
      CHECK_FALSE(access.check_enrollment(bad, now).has_value());
    }
  }
  THEN("it expires at its expiry time") {
    CHECK(access.check_enrollment(unlimited, now + 59'999).has_value());
    CHECK_FALSE(access.check_enrollment(unlimited, now + 60'000).has_value());
  }
  THEN("a revoked token passes nothing") {
    fixture.append(stream_name(kEnrollmentKind, unlimited_id), EnrollmentEvent{EnrollmentTokenRevoked{}});
    fixture.catch_up(access);
    CHECK_FALSE(access.check_enrollment(unlimited, now).has_value());
    CHECK(access.enrollment_token(unlimited_id)->revoked);
  }
  THEN("uses are counted from the token's own stream, and from old agents' events") {
    fixture.append(stream_name(kEnrollmentKind, twice_id),
                   EnrollmentEvent{EnrollmentTokenUsed{*AgentId::parse("00000000-0000-4000-8000-000000000001"),
                                                       "host-1"}});
    fixture.catch_up(access);
    CHECK(access.enrollment_token(twice_id)->total_uses() == 1);
    CHECK_FALSE(access.check_enrollment(twice, now)->used_up);
    // A registration of a data dir from before EnrollmentTokenUsed: a v1
    // AgentTokenIssued naming the token, in the agent's (bare id) stream.
    AgentTokenIssued old;
    old.token_sha256 = sha256("old agent token");
    old.enrollment_token_id = twice_id;
    fixture.append("00000000-0000-4000-8000-000000000002", AgentEvent{old}, /*schema_version=*/1);
    // A new one (v2) is not a use: its use is the token's own event.
    fixture.append("agent:00000000-0000-4000-8000-000000000003", AgentEvent{old});
    fixture.catch_up(access);
    CHECK(access.legacy_uses(twice_id) == 1);
    CHECK(access.enrollment_token(twice_id)->total_uses() == 2);
    // Used up: it admits only known instances registering again.
    const auto used_up = access.check_enrollment(twice, now);
    REQUIRE(used_up.has_value());
    CHECK(used_up->used_up);
  }
}

TEST_CASE("the access model from its snapshot plus the tail equals a full fold") {
  AccessFixture fixture;
  std::string key_id;
  std::string token_id;
  fixture.issue_key(Role::operator_, "acme", &key_id);
  fixture.issue_token(5, &token_id);
  AgentTokenIssued old;
  old.token_sha256 = sha256("old");
  old.enrollment_token_id = token_id;
  fixture.append("00000000-0000-4000-8000-000000000002", AgentEvent{old}, 1);
  fixture.catch_up(fixture.access);
  REQUIRE(fixture.access.save_snapshot(fixture.storage->snapshots()).ok());
  // The tail.
  fixture.append(stream_name(kApiKeyKind, key_id), ApiKeyEvent{ApiKeyRevoked{}});
  fixture.append(stream_name(kEnrollmentKind, token_id),
                 EnrollmentEvent{EnrollmentTokenUsed{*AgentId::parse("00000000-0000-4000-8000-000000000001"), "h"}});
  std::string second_key;
  fixture.issue_key(Role::viewer, "*", &second_key);
  fixture.catch_up(fixture.access);

  AccessProjection restored;
  const std::uint64_t head = fixture.storage->events().head_position().value();
  auto position = restored.load_snapshot(fixture.storage->snapshots(), head);
  REQUIRE(position.ok());
  CHECK(*position == 3);
  fixture.catch_up(restored);  // folds everything; skips what the snapshot holds
  CHECK(restored.keys() == fixture.access.keys());
  CHECK(restored.enrollment_tokens() == fixture.access.enrollment_tokens());
  CHECK(restored.position() == head);

  SUBCASE("a snapshot that cannot be decoded is dropped") {
    REQUIRE(fixture.storage->snapshots().write(AccessProjection::kSnapshotScope, {{"key:x", "{"}}, 3).ok());
    AccessProjection fresh;
    CHECK(fresh.load_snapshot(fixture.storage->snapshots(), head).value() == 0);
    CHECK(fresh.keys().empty());
    CHECK_FALSE(fixture.storage->snapshots().position(AccessProjection::kSnapshotScope).value().has_value());
  }
}

TEST_CASE("when only agents' events follow, the access snapshot moves its position alone") {
  AccessFixture fixture;
  std::string key_id;
  fixture.issue_key(Role::operator_, "acme", &key_id);
  fixture.catch_up(fixture.access);
  REQUIRE(fixture.access.save_snapshot(fixture.storage->snapshots()).ok());
  // Not access's events: a start-up should not have to read them again.
  AgentTokenIssued issued;
  issued.token_sha256 = sha256("t");
  fixture.append("agent:00000000-0000-4000-8000-000000000001", AgentEvent{issued});
  fixture.append("agent:00000000-0000-4000-8000-000000000001", AgentEvent{issued});
  fixture.catch_up(fixture.access);
  REQUIRE(fixture.access.save_snapshot(fixture.storage->snapshots()).ok());
  const std::uint64_t head = fixture.storage->events().head_position().value();
  CHECK(fixture.storage->snapshots().position(AccessProjection::kSnapshotScope).value() == head);

  AccessProjection restored;
  CHECK(restored.load_snapshot(fixture.storage->snapshots(), head).value() == head);
  CHECK(restored.keys() == fixture.access.keys());  // the entries were kept
}

TEST_CASE("regression (fuzzing): key and token payloads of the wrong type are corruption, never a crash") {
  const auto created = [](const char* type, const std::string& stream, nlohmann::json data) {
    return Event{1, stream, 1, type, 1000, 1, data.dump(), "{}"};
  };
  const std::string digest = sha256_hex("secret");
  const nlohmann::json key = {{"key_id", "0123456789abcdef"}, {"role", "admin"}, {"secret_sha256", digest}};
  ApiKey good_key;
  REQUIRE(apply(good_key, created("ApiKeyCreated", "apikey:0123456789abcdef", key)).ok());
  for (const auto& bad_field : std::vector<std::pair<std::string, nlohmann::json>>{
           {"role", 5}, {"org", nlohmann::json::array({"acme"})}, {"name", 1.5}, {"key_id", nullptr},
           {"secret_sha256", "x"}}) {
    const std::string& field = bad_field.first;
    const nlohmann::json& value = bad_field.second;
    CAPTURE(field);
    nlohmann::json bad = key;
    bad[field] = value;
    ApiKey folded;
    const Status status = apply(folded, created("ApiKeyCreated", "apikey:0123456789abcdef", bad));
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == ErrorCode::corruption);
  }
  const nlohmann::json token = {
      {"token_id", "0123456789abcdef"},     {"name", "t"},        {"org", "default"},
      {"labels", nlohmann::json::object()}, {"expires_at", 5000}, {"secret_sha256", digest}};
  EnrollmentToken good;
  REQUIRE(apply(good, created("EnrollmentTokenCreated", "enrollment:0123456789abcdef", token)).ok());
  for (const auto& bad_field : std::vector<std::pair<std::string, nlohmann::json>>{
           {"expires_at", 1e300}, {"max_uses", -1.5}, {"max_uses", -3}, {"labels", {{"a", 1}}}, {"org", 7}}) {
    const std::string& field = bad_field.first;
    const nlohmann::json& value = bad_field.second;
    CAPTURE(field);
    nlohmann::json bad = token;
    bad[field] = value;
    EnrollmentToken folded;
    const Status status = apply(folded, created("EnrollmentTokenCreated", "enrollment:0123456789abcdef", bad));
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == ErrorCode::corruption);
  }
}
