// History as operators read it: which events of the log a caller may see
// (organization, and credential records for admins only), and that no
// digest of a secret is ever served, whoever asks.

#include "projections/event_queries.hpp"

#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "actors/access/credentials.hpp"
#include "actors/agent/agent_decider.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/timers.hpp"
#include "eventstore/memory_storage.hpp"

using namespace muster;
using nlohmann::json;

namespace {

// A log holding, in each of two organizations, an API key, an enrollment
// token (created, used, revoked) and an agent registered with it; and the
// read models folded from it.
struct HistoryFixture {
  ManualTimerService timers{1'000'000};
  std::unique_ptr<Storage> storage;
  AgentRegistry registry;
  AccessProjection access;
  std::map<std::string, AgentId> agent_of_org;

  HistoryFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    add_org("acme", "00000000-0000-4000-8000-000000000001");
    add_org("globex", "00000000-0000-4000-8000-000000000002");
    auto log = storage->events().read_log(1, 100'000);
    REQUIRE(log.ok());
    REQUIRE(registry.apply(*log).ok());
    REQUIRE(access.apply(*log).ok());
  }

  template <class Variant>
  void append(const std::string& stream, const std::vector<Variant>& events) {
    std::vector<NewEvent> stored;
    for (const Variant& event : events) {
      stored.push_back(encode_payload(event));
      stored.back().meta = "{}";
    }
    const std::uint64_t version = storage->events().stream_version(stream).value();
    REQUIRE(storage->events().append(stream, version, stored).ok());
  }

  void add_org(const std::string& org, const char* agent_id_text) {
    auto key = new_credential(kApiKeyPrefix);
    REQUIRE(key.ok());
    append(stream_name(kApiKeyKind, key->id),
           std::vector<ApiKeyEvent>{ApiKeyCreated{key->id, "grafana", Role::viewer, org, key->secret_sha256}});
    auto token = new_credential(kEnrollmentTokenPrefix);
    REQUIRE(token.ok());
    const AgentId agent_id = *AgentId::parse(agent_id_text);
    append(stream_name(kEnrollmentKind, token->id),
           std::vector<EnrollmentEvent>{
               EnrollmentTokenCreated{token->id, "rollout", org, {{"env", "prod"}}, timers.now_ms() + 60'000,
                                      std::nullopt, token->secret_sha256},
               EnrollmentTokenUsed{agent_id, "i-" + org}, EnrollmentTokenRevoked{}});
    Registration registration;
    registration.instance_id = "i-" + org;
    registration.name = "web-" + org;
    registration.hostname = "web." + org + ".example";
    Admission admission;
    admission.org = org;
    admission.enrollment_token_id = token->id;
    admission.agent_token = sha256("the agent's secret");
    auto decided = decide_register(fresh_agent_state(agent_id), registration, admission);
    REQUIRE(decided.ok());
    append(fresh_agent_state(agent_id).stream(), *decided);
    agent_of_org[org] = agent_id;
  }

  std::vector<Event> log_as(const Principal& caller, const std::string& type = "") {
    EventQueries queries(storage->events(), registry, access);
    auto page = queries.log_events(caller, 1, 1000, type);
    REQUIRE(page.ok());
    CHECK_FALSE(page->next.has_value());
    return page->events;
  }
};

Principal principal(Role role, const std::string& org) {
  Principal caller;
  caller.key_id = "0123456789abcdef";
  caller.role = role;
  caller.org = org;
  return caller;
}

std::set<std::string> kinds_of(const std::vector<Event>& events) {
  std::set<std::string> kinds;
  for (const Event& event : events) kinds.insert(std::string(parse_stream(event.stream)->kind));
  return kinds;
}

std::set<std::string> orgs_of(EventQueries& queries, const std::vector<Event>& events) {
  std::set<std::string> orgs;
  for (const Event& event : events) orgs.insert(queries.organization_of(event.stream).value_or("?"));
  return orgs;
}

void check_no_digest(const std::vector<Event>& events) {
  for (const Event& event : events) {
    INFO(event.type << " " << event.data);
    CHECK(event.data.find("sha256") == std::string::npos);
    CHECK(json::parse(event.data, nullptr, false).is_object());
  }
}

}  // namespace

SCENARIO("regression: viewers and operators read API-key and enrollment-token records through /events") {
  HistoryFixture fixture;
  EventQueries queries(fixture.storage->events(), fixture.registry, fixture.access);

  WHEN("a viewer or an operator, scoped or not, reads the log") {
    THEN("it sees agent events only, none of a key or a token, and no digest") {
      for (const Role role : {Role::viewer, Role::operator_}) {
        for (const std::string& org : {std::string("acme"), std::string(kAllOrgs)}) {
          CAPTURE(to_string(role));
          CAPTURE(org);
          const std::vector<Event> events = fixture.log_as(principal(role, org));
          REQUIRE_FALSE(events.empty());
          CHECK(kinds_of(events) == std::set<std::string>{std::string(kAgentKind)});
          check_no_digest(events);
          for (const char* type : {"ApiKeyCreated", "EnrollmentTokenCreated", "EnrollmentTokenUsed",
                                   "EnrollmentTokenRevoked"}) {
            CHECK(fixture.log_as(principal(role, org), type).empty());
          }
        }
      }
    }
  }
  WHEN("an admin of one organization reads the log") {
    const std::vector<Event> events = fixture.log_as(principal(Role::admin, "acme"));
    THEN("it sees that organization's keys, tokens and agents, without digests") {
      CHECK(kinds_of(events) ==
            std::set<std::string>{std::string(kAgentKind), std::string(kApiKeyKind), std::string(kEnrollmentKind)});
      CHECK(orgs_of(queries, events) == std::set<std::string>{"acme"});
      CHECK(fixture.log_as(principal(Role::admin, "acme"), "ApiKeyCreated").size() == 1);
      check_no_digest(events);
    }
  }
  WHEN("an unscoped admin reads the log") {
    const std::vector<Event> events = fixture.log_as(principal(Role::admin, std::string(kAllOrgs)));
    THEN("it sees every event, still without digests, and everything else of each payload") {
      CHECK(events.size() == fixture.storage->events().head_position().value());
      check_no_digest(events);
      const auto created = std::find_if(events.begin(), events.end(),
                                        [](const Event& event) { return event.type == "ApiKeyCreated"; });
      REQUIRE(created != events.end());
      const json data = json::parse(created->data);
      CHECK(data.at("name") == "grafana");
      CHECK(data.at("role") == "viewer");
      CHECK_FALSE(data.contains("secret_sha256"));
    }
  }
}

SCENARIO("regression: an agent's stream is served without its agent-token digests") {
  HistoryFixture fixture;
  EventQueries queries(fixture.storage->events(), fixture.registry, fixture.access);
  const AgentId acme_agent = fixture.agent_of_org.at("acme");

  WHEN("a viewer or an admin reads an agent's events") {
    THEN("AgentTokenIssued keeps its enrollment token id and loses its digest") {
      for (const Role role : {Role::viewer, Role::admin}) {
        CAPTURE(to_string(role));
        auto page = queries.agent_events(principal(role, "acme"), acme_agent, 1, 100);
        REQUIRE(page.ok());
        REQUIRE(page->events.size() == 2);
        CHECK(page->events[1].type == "AgentTokenIssued");
        check_no_digest(page->events);
        CHECK(json::parse(page->events[1].data).contains("enrollment_token_id"));
      }
    }
  }
  WHEN("a caller of another organization asks") {
    auto page = queries.agent_events(principal(Role::admin, "globex"), acme_agent, 1, 100);
    THEN("the agent does not exist for it") {
      REQUIRE_FALSE(page.ok());
      CHECK(page.error().code == ErrorCode::not_found);
    }
  }
}

TEST_CASE("redact_digests removes every *_sha256 member, however spelled, and leaves the rest alone") {
  CHECK_FALSE(redact_digests(R"({"from":"ONLINE","to":"DEGRADED"})").has_value());
  CHECK_FALSE(redact_digests("not json _sha256").has_value());
  CHECK_FALSE(redact_digests(R"({"hostname":"a\"b"})").has_value());
  CHECK(redact_digests(R"({"key_id":"k","secret_sha256":"00ff"})") == std::optional<std::string>(R"({"key_id":"k"})"));
  CHECK(redact_digests(R"({"a":{"token_sha256":"00"},"b":[{"x_sha256":"1","y":2}]})") ==
        std::optional<std::string>(R"({"a":{},"b":[{"y":2}]})"));
  CHECK(redact_digests(R"({"secret\u005fsha256":"00ff","n":1})") == std::optional<std::string>(R"({"n":1})"));
  // A value that merely mentions the suffix is kept.
  CHECK_FALSE(redact_digests(R"({"name":"my_sha256"})").has_value());
}

TEST_CASE("a log filter keeps one stream and reads nothing past its last position, saying where to read on") {
  HistoryFixture history;
  EventQueries queries(history.storage->events(), history.registry, history.access);
  const Principal admin = principal(Role::admin, std::string(kAllOrgs));
  const std::string acme_agent = fresh_agent_state(history.agent_of_org.at("acme")).stream();
  const auto whole = queries.log_events(admin, 1, 1000, std::string());
  REQUIRE(whole.ok());
  const std::uint64_t head = whole->events.back().position;

  LogFilter one_stream;
  one_stream.stream = acme_agent;
  const auto kept = queries.log_events(admin, 1, 1000, one_stream);
  REQUIRE(kept.ok());
  REQUIRE(!kept->events.empty());
  for (const Event& event : kept->events) CHECK(event.stream == acme_agent);
  CHECK_FALSE(kept->next.has_value());
  CHECK(kept->resume_at == head + 1);

  // Bounded below the head: the page ends there, as at the head, and says where to go on.
  LogFilter bounded;
  bounded.last_position = head - 2;
  const auto first_part = queries.log_events(admin, 1, 1000, bounded);
  REQUIRE(first_part.ok());
  CHECK(first_part->events.size() == head - 2);
  CHECK(first_part->events.back().position == head - 2);
  CHECK_FALSE(first_part->next.has_value());
  CHECK(first_part->resume_at == head - 1);
  // Nothing at all when the start is past the bound.
  const auto nothing = queries.log_events(admin, head - 1, 1000, bounded);
  REQUIRE(nothing.ok());
  CHECK(nothing->events.empty());
  CHECK(nothing->resume_at == head - 1);
  // A full page inside the bound goes on from after its last event.
  const auto page = queries.log_events(admin, 1, 3, bounded);
  REQUIRE(page.ok());
  CHECK(page->events.size() == 3);
  CHECK(page->next == std::optional<std::uint64_t>(4));
  CHECK(page->resume_at == 4);
}

TEST_CASE("regression: a scoped key read no config, rollout or alert events of its own organization") {
  HistoryFixture fixture;
  EventQueries queries(fixture.storage->events(), fixture.registry, fixture.access);
  const Principal acme = principal(Role::viewer, "acme");
  for (const std::string kind : {"config", "group", "rollout", "alert", "alert-rule", "command"}) {
    CAPTURE(kind);
    CHECK(queries.organization_of(kind + ":acme/web") == std::optional<std::string>("acme"));
    CHECK(queries.may_see(acme, kind + ":acme/web"));
    CHECK_FALSE(queries.may_see(acme, kind + ":other/web"));
  }
  CHECK_FALSE(queries.organization_of("bulk:0123456789abcdef").has_value());
  CHECK_FALSE(queries.may_see(acme, "bulk:0123456789abcdef"));
}
