#include <doctest/doctest.h>

#include "actors/access.hpp"
#include "projections/projection_runner.hpp"
#include "tests/support/temp_dir.hpp"

using namespace muster;

namespace {

struct AccessFixture {
  testing::TempDir dir;
  std::unique_ptr<EventStore> store;

  AccessFixture() {
    StoreOptions options;
    options.path = dir.file("data");
    store = std::move(*open_rocksdb_event_store(options));
  }

  IssuedApiKey issue(Role role, const std::string& org = "") {
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
