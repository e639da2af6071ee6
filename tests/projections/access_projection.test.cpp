#include <doctest/doctest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include "actors/access.hpp"

#include "actors/agent_events.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "projections/projection_runner.hpp"
#include "tests/support/temp_dir.hpp"

using namespace muster;

namespace {

struct AccessFixture {
  testing::TempDir dir;
  ManualClock clock{1'000'000};  // declared before the store, which reads it until it stops
  std::unique_ptr<Storage> storage;
  EventStore* store = nullptr;

  AccessFixture() {
    RocksDbOptions options;
    options.path = dir.file("data");
    options.store.clock = &clock;
    storage = std::move(*open_rocksdb_storage(options));
    store = &storage->events();
  }

  IssuedEnrollmentToken issue_token(std::optional<std::uint64_t> max_uses = std::nullopt) {
    EnrollmentTokenRequest request;
    request.name = "rollout";
    request.org = "acme";
    request.expires_in_ms = 60'000;
    request.max_uses = max_uses;
    request.labels = {{"env", "prod"}};
    auto issued = issue_enrollment_token(*store, request, clock.now_ms(), "{}");
    REQUIRE(issued.ok());
    return *issued;
  }

  // Appends what a registration through `token_id` appends last: AgentTokenIssued naming it.
  std::uint64_t use(const std::string& token_id, int agent_number) {
    const std::string agent_id = fmt::format("00000000-0000-4000-8000-{:012}", agent_number);
    auto appended = store->append(agent_id, kNewStream,
                                  {agent_events::token_issued_at_registration("digest", token_id, "{}")});
    REQUIRE(appended.ok());
    return appended->last_position;
  }


  IssuedApiKey issue(Role role, const std::string& org = "*") {
    auto issued = issue_api_key(*store, "key", role, org, "{}");
    REQUIRE(issued.ok());
    return *issued;
  }
};

}  // namespace

SCENARIO("API keys authenticate by their secret until revoked") {
  AccessFixture fixture;
  const IssuedApiKey admin = fixture.issue(Role::admin);
  const IssuedApiKey viewer = fixture.issue(Role::viewer, "acme");
  ProjectionRunner runner(*fixture.store);
  runner.catch_up();
  const AccessProjection& access = runner.access();

  THEN("each key maps to its principal") {
    CHECK(access.authenticate(admin.plaintext)->role == Role::admin);
    const auto principal = access.authenticate(viewer.plaintext);
    REQUIRE(principal.has_value());
    CHECK(principal->role == Role::viewer);
    CHECK(principal->org == "acme");
    CHECK(principal->key_id == viewer.key.key_id);
  }
  THEN("anything else is refused") {
    std::string tampered = admin.plaintext;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    for (const std::string& bad : {tampered, std::string("mk_") + admin.key.key_id + "_", std::string(""),
                                   std::string("Bearer ") + admin.plaintext, admin.key.key_id,
                                   "mk_0123456789abcdef_" + admin.plaintext.substr(20)}) {
      CAPTURE(bad);
      CHECK_FALSE(access.authenticate(bad).has_value());
    }
  }
  THEN("a revoked key stops working and cannot be revoked twice") {
    REQUIRE(revoke_api_key(*fixture.store, viewer.key.key_id, "{}").ok());
    runner.catch_up();
    CHECK_FALSE(access.authenticate(viewer.plaintext).has_value());
    CHECK(access.authenticate(admin.plaintext).has_value());
    CHECK(revoke_api_key(*fixture.store, viewer.key.key_id, "{}").error().code == ErrorCode::conflict);
    CHECK(revoke_api_key(*fixture.store, "0123456789abcdef", "{}").error().reason == "API_KEY_NOT_FOUND");
  }
  THEN("the log and the read model hold the digest, never the secret") {
    auto log = fixture.store->read_log(1, 10);
    REQUIRE(log.ok());
    for (const Event& event : *log) {
      CHECK(event.data.find(admin.plaintext.substr(20)) == std::string::npos);
      CHECK(event.data.find(viewer.plaintext.substr(20)) == std::string::npos);
    }
    for (const ApiKey& key : access.keys()) CHECK(key.secret_sha256.size() == 64);
  }
}

TEST_CASE("roles are ordered: admin may do what operator may, operator what viewer may") {
  CHECK(role_allows(Role::admin, Role::operator_));
  CHECK(role_allows(Role::operator_, Role::viewer));
  CHECK_FALSE(role_allows(Role::viewer, Role::operator_));
  CHECK_FALSE(role_allows(Role::operator_, Role::admin));
  CHECK(parse_role("operator") == Role::operator_);
  CHECK_FALSE(parse_role("root").has_value());
  CHECK(is_agent_stream("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"));
  CHECK_FALSE(is_agent_stream("apikey:0123456789abcdef"));
}

SCENARIO("enrollment tokens admit registrations while live, unexpired and not used up") {
  AccessFixture fixture;
  const IssuedEnrollmentToken unlimited = fixture.issue_token();
  const IssuedEnrollmentToken twice = fixture.issue_token(2);
  ProjectionRunner runner(*fixture.store);
  runner.catch_up();
  AccessProjection& access = runner.access();
  const TimeMs now = fixture.clock.now_ms();

  THEN("a live token grants its organization and labels; nothing else is a token") {
    const auto grant = access.admit_enrollment(unlimited.plaintext, now);
    REQUIRE(grant.has_value());
    CHECK(grant->token_id == unlimited.token.token_id);
    CHECK(grant->org == "acme");
    CHECK(grant->labels.at("env") == "prod");
    CHECK_FALSE(grant->reserved);
    std::string tampered = unlimited.plaintext;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    for (const std::string& bad :
         {tampered, std::string(""), unlimited.token.token_id, "mk" + unlimited.plaintext.substr(2)}) {
      CAPTURE(bad);
      CHECK_FALSE(access.admit_enrollment(bad, now).has_value());
    }
  }
  THEN("it expires at its expiry time") {
    CHECK(access.admit_enrollment(unlimited.plaintext, now + 59'999).has_value());
    CHECK_FALSE(access.admit_enrollment(unlimited.plaintext, now + 60'000).has_value());
  }
  THEN("a revoked token admits nothing") {
    REQUIRE(revoke_enrollment_token(*fixture.store, unlimited.token.token_id, "{}").ok());
    runner.catch_up();
    CHECK_FALSE(access.admit_enrollment(unlimited.plaintext, now).has_value());
    CHECK(access.enrollment_token(unlimited.token.token_id)->revoked);
    CHECK(revoke_enrollment_token(*fixture.store, unlimited.token.token_id, "{}").error().reason ==
          "ENROLLMENT_TOKEN_REVOKED");
  }
  THEN("registrations in flight count against max_uses, so concurrent ones cannot exceed it") {
    const auto first = access.admit_enrollment(twice.plaintext, now);
    const auto second = access.admit_enrollment(twice.plaintext, now);
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    CHECK(first->reserved);
    CHECK_FALSE(access.admit_enrollment(twice.plaintext, now).has_value());
    AND_THEN("a failed registration gives its use back") {
      access.settle_enrollment(*first, std::nullopt);
      CHECK(access.admit_enrollment(twice.plaintext, now).has_value());
    }
    AND_THEN("a succeeded one counts once, whether settled before or after its event is folded") {
      const std::uint64_t early = fixture.use(twice.token.token_id, 1);
      access.settle_enrollment(*first, early);  // settled before the fold
      runner.catch_up();
      const std::uint64_t late = fixture.use(twice.token.token_id, 2);
      runner.catch_up();
      access.settle_enrollment(*second, late);  // settled after the fold
      CHECK(access.enrollment_token(twice.token.token_id)->uses == 2);
      CHECK_FALSE(access.admit_enrollment(twice.plaintext, now).has_value());
      ProjectionRunner rebuilt(*fixture.store);
      rebuilt.catch_up();
      CHECK(rebuilt.access().enrollment_token(twice.token.token_id)->uses == 2);
      CHECK_FALSE(rebuilt.access().admit_enrollment(twice.plaintext, now).has_value());
    }
  }
  THEN("the log holds the digest, never the secret") {
    auto log = fixture.store->read_log(1, 10);
    REQUIRE(log.ok());
    for (const Event& event : *log)
      CHECK(event.data.find(unlimited.plaintext.substr(20)) == std::string::npos);
  }
}

TEST_CASE("regression (fuzzing): key and token payloads of the wrong type are corruption, never a crash") {
  const auto created = [](const char* type, const std::string& stream, nlohmann::json data) {
    return Event{1, stream, 1, type, 1000, 1, data.dump(), "{}"};
  };
  const nlohmann::json key = {{"key_id", "0123456789abcdef"}, {"role", "admin"}, {"secret_sha256", "x"}};
  for (const auto& [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"role", 5}, {"org", nlohmann::json::array({"acme"})}, {"name", 1.5}, {"key_id", nullptr}}) {
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
      {"labels", nlohmann::json::object()}, {"expires_at", 5000}, {"secret_sha256", "x"}};
  EnrollmentToken good;
  REQUIRE(apply(good, created("EnrollmentTokenCreated", "enrollment:0123456789abcdef", token)).ok());
  for (const auto& [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"expires_at", 1e300}, {"max_uses", -1.5}, {"max_uses", -3}, {"labels", {{"a", 1}}}, {"org", 7}}) {
    CAPTURE(field);
    nlohmann::json bad = token;
    bad[field] = value;
    EnrollmentToken folded;
    const Status status =
        apply(folded, created("EnrollmentTokenCreated", "enrollment:0123456789abcdef", bad));
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == ErrorCode::corruption);
  }
}
