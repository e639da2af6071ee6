// The event catalogue: every event type muster writes is listed once, and
// every payload reads back what it wrote.

#include "actors/event_catalogue.hpp"

#include <doctest/doctest.h>

#include <set>

#include "actors/agent/agent_events.hpp"
#include "actors/alert/alert_state.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/bulk/bulk_state.hpp"
#include "actors/command/command_state.hpp"
#include "actors/config/config_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/group/group_state.hpp"
#include "actors/rollout/rollout_state.hpp"
#include "actors/user/user_state.hpp"

using namespace muster;

namespace {

template <class Variant>
void check_round_trip(const Variant& payload) {
  const NewEvent stored = encode_payload(payload);
  CAPTURE(stored.type);
  CAPTURE(stored.data);
  REQUIRE(find_event_type(stored.type) != nullptr);
  CHECK(find_event_type(stored.type)->schema_version == stored.schema_version);
  auto decoded = decode_payload<Variant>(stored.type, stored.schema_version, stored.data);
  REQUIRE(decoded.ok());
  // Read back, it writes the same bytes.
  CHECK(encode_payload(*decoded).data == stored.data);
}

}  // namespace

TEST_CASE("every event type is in the catalogue once, under its aggregate's stream kind") {
  std::set<std::string_view> names;
  for (const EventType& type : event_catalogue()) {
    CAPTURE(type.name);
    CHECK(names.insert(type.name).second);
    CHECK(std::set<std::string_view>{"agent", "apikey", "enrollment", "config", "group", "bulk", "command",
                                      "rollout", "alert-rule", "alert", "notification-channel", "maintenance-window",
                                      "notification", "user"}
              .count(
              type.stream_kind) == 1);
    CHECK(type.schema_version >= 1);
  }
  CHECK(names.size() == 66);
  CHECK(find_event_type("AgentRegistered")->stream_kind == "agent");
  CHECK(find_event_type("AgentTokenIssued")->schema_version == 2);
  CHECK(find_event_type("AgentTeleported") == nullptr);
}

TEST_CASE("every payload reads back what it wrote") {
  AgentProfile profile;
  profile.name = "web-1";
  profile.hostname = "web-1.example";
  profile.version = InternedString::of("1.2");
  profile.capabilities = InternedStrings::of({"metrics"});
  profile.labels = InternedLabels::of({{"env", "prod"}});
  const AgentId agent = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
  AgentTokenIssued issued;
  issued.token_sha256 = sha256("t");
  issued.enrollment_token_id = "0123456789abcdef";
  AgentProfilePatch changes;
  changes.version = InternedString::of("1.3");
  for (const AgentEvent& event : std::vector<AgentEvent>{
           AgentRegistered{agent, "host-1", InternedString::of("acme"), profile}, issued, AgentUpdated{changes},
           AgentStatusChanged{AgentStatus::online, AgentStatus::degraded}, AgentWentOffline{1000, 120000},
           AgentCameOnline{AgentStatus::online}, AgentDeregistered{}, AgentDecommissioned{}}) {
    check_round_trip(event);
  }
  check_round_trip(ApiKeyEvent{ApiKeyCreated{"0123456789abcdef", "k", Role::operator_, "acme", sha256("s")}});
  check_round_trip(ApiKeyEvent{ApiKeyRevoked{}});
  check_round_trip(UserEvent{UserCreated{"alice", Role::operator_, "acme", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"}});
  check_round_trip(UserEvent{UserPasswordSet{"$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"}});
  check_round_trip(UserEvent{UserDeleted{}});
  check_round_trip(UserEvent{UserSessionStarted{"0123456789abcdef", SessionKind::cookie, sha256("s"), std::nullopt,
                                                1'000, 0}});
  check_round_trip(UserEvent{UserSessionStarted{"0123456789abcdef", SessionKind::token, sha256("s"), sha256("r"),
                                                1'000, 9'000}});
  check_round_trip(UserEvent{UserSessionRefreshed{"0123456789abcdef", sha256("s2"), sha256("r2"), 2'000, 10'000}});
  check_round_trip(UserEvent{UserSessionEnded{"0123456789abcdef", "logout"}});
  check_round_trip(UserEvent{UserSessionsEnded{}});
  check_round_trip(EnrollmentEvent{
      EnrollmentTokenCreated{"0123456789abcdef", "t", "acme", {{"a", "b"}}, 5000, 10, sha256("s")}});
  check_round_trip(EnrollmentEvent{EnrollmentTokenUsed{agent, "host-1"}});
  check_round_trip(EnrollmentEvent{EnrollmentTokenRevoked{}});

  Assignment assignment;
  assignment.config = ConfigRef{"collector", 3};
  assignment.policies = {{"baseline", 0}, {"pci", 2}};
  assignment.settings = {{"log_level", "debug"}, {"limits", {{"cpu", 2}}}};
  const auto files = std::make_shared<const ConfigFiles>(
      ConfigFiles{{"collector.yaml", {"application/yaml", "receivers: {}\n"}}, {"extra.json", {"application/json", "{}"}}});
  for (const AgentEvent& event : std::vector<AgentEvent>{
           AgentAssignmentSet{assignment}, AgentAssignmentSet{std::nullopt},
           AgentConfigReported{sha256_hex("c"), ConfigReportStatus::failed, "bad yaml"},
           AgentEffectiveConfigReported{files, hash_files(*files)},
           AgentWentOffline{2000, 0, OfflineReason::termination_notice},
           AgentReported{"termination", 1764640000000, {{"notice", {{"action", "terminate"}}}}},
           AgentReported{"crash", 0, nlohmann::json::object()}}) {
    check_round_trip(event);
  }
  for (const ConfigEvent& event : std::vector<ConfigEvent>{
           ConfigCreated{"acme", "collector", ConfigKind::policy, "the edge collectors"},
           ConfigVersionAdded{2, files, hash_files(*files), "raise the batch size", "key:0123456789abcdef", 1},
           ConfigDeleted{}}) {
    check_round_trip(event);
  }
  for (const GroupEvent& event : std::vector<GroupEvent>{
           GroupCreated{"acme", "prod-eu", {{"env", "prod"}, {"region", "eu-west-1"}}, -3, "EU production"},
           GroupUpdated{LabelSelector{{"env", "prod"}}, 7, std::nullopt}, GroupUpdated{std::nullopt, std::nullopt, "d"},
           GroupMembersAdded{{agent}}, GroupMembersRemoved{{agent}}, GroupAssignmentSet{assignment},
           GroupAssignmentSet{std::nullopt}, GroupDeleted{}}) {
    check_round_trip(event);
  }
  BulkParams labels;
  labels.labels = {{"env", "prod"}};
  BulkParams settings;
  settings.settings = {{"log_level", "debug"}};
  BulkParams assign;
  assign.assignment = assignment;
  for (const BulkJobEvent& event : std::vector<BulkJobEvent>{
           BulkJobCreated{"0123456789abcdef", "acme", BulkAction::set_labels, labels, {agent}, "key:0123456789abcdef"},
           BulkJobCreated{"0123456789abcdef", "acme", BulkAction::set_settings, settings, {agent}, "key:k"},
           BulkJobCreated{"0123456789abcdef", "acme", BulkAction::assign, assign, {}, "key:k"},
           BulkJobCreated{"0123456789abcdef", "acme", BulkAction::assign, BulkParams{}, {agent}, "key:k"},
           BulkJobProgressed{0, 2, 1, {BulkFailure{agent, "AGENT_NOT_REGISTERED", "deregistered"}}},
           BulkJobFinished{}}) {
    check_round_trip(event);
  }
}

TEST_CASE("every command payload reads back what it wrote") {
  CommandQueued queued;
  queued.command_id = "0123456789abcdef";
  queued.org = "acme";
  queued.agent_id = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
  queued.type = "upgrade";
  queued.params = {{"version", "2.1.0"}, {"channel", "stable"}};
  queued.priority = CommandPriority::emergency;
  queued.not_before_ms = 1764640000000;
  queued.expires_at_ms = 1764726400000;
  queued.idempotency_key = "deploy-42";
  queued.batch_id = "b-7";
  queued.principal = "key:0123456789abcdef";
  CommandQueued plain = queued;
  plain.params = nlohmann::json::object();
  plain.priority = CommandPriority::normal;
  plain.not_before_ms = 0;
  plain.idempotency_key.clear();
  plain.batch_id.clear();
  for (const CommandEvent& event : std::vector<CommandEvent>{
           queued, plain, CommandDelivered{}, CommandAcknowledged{},
           CommandCompleted{make_command_result(true, 0, "done")},
           CommandCompleted{make_command_result(false, std::nullopt, std::string(kMaxCommandOutputBytes + 10, 'x'))},
           CommandExpired{ExpiryReason::not_delivered}, CommandExpired{ExpiryReason::not_finished},
           CommandCancelled{}}) {
    check_round_trip(event);
  }
  CHECK_FALSE(decode_payload<CommandEvent>("CommandExpired", 1, R"({"reason":"bored"})").ok());
  CHECK_FALSE(decode_payload<CommandEvent>("CommandCompleted", 1, R"({"status":"maybe","output":"",)"
                                                                   R"("output_truncated":false,"exit_code":null})")
                   .ok());
  CHECK_FALSE(decode_payload<CommandEvent>("CommandQueued", 1, R"({"command_id":"x"})").ok());
}

TEST_CASE("older schema versions are upcast when read") {
  AgentTokenIssued issued;
  issued.token_sha256 = sha256("t");
  issued.enrollment_token_id = "0123456789abcdef";
  const NewEvent stored = encode_payload(AgentEvent{issued});
  const auto as_v1 = decode_payload<AgentEvent>(stored.type, 1, stored.data);
  REQUIRE(as_v1.ok());
  CHECK(std::get<AgentTokenIssued>(*as_v1).legacy_use);
  const auto as_v2 = decode_payload<AgentEvent>(stored.type, 2, stored.data);
  CHECK_FALSE(std::get<AgentTokenIssued>(*as_v2).legacy_use);
  // Keys from before organizations covered every one.
  const auto key = decode_payload<ApiKeyEvent>(
      "ApiKeyCreated", 1, R"({"key_id":"0123456789abcdef","role":"admin","secret_sha256":")" + sha256_hex("s") + "\"}");
  REQUIRE(key.ok());
  CHECK(std::get<ApiKeyCreated>(*key).org == "*");
  CHECK_FALSE(decode_payload<AgentEvent>(stored.type, 3, stored.data).ok());
}

TEST_CASE("AgentWentOffline v1 reads as a heartbeat timeout - v2 needs a known reason") {
  const auto v1 =
      decode_payload<AgentEvent>("AgentWentOffline", 1, R"({"last_seen":1000,"timeout_ms":120000})");
  REQUIRE(v1.ok());
  const auto& offline = std::get<AgentWentOffline>(*v1);
  CHECK(offline.reason == OfflineReason::heartbeat_timeout);
  CHECK(offline.last_seen_ms == 1000);
  CHECK(offline.timeout_ms == 120000);
  // Written again, it is v2 with the reason spelled out.
  CHECK(encode_payload(*v1).data == R"({"last_seen":1000,"reason":"heartbeat timeout","timeout_ms":120000})");
  const auto v2 =
      decode_payload<AgentEvent>("AgentWentOffline", 2, R"({"last_seen":5,"reason":"termination notice"})");
  REQUIRE(v2.ok());
  CHECK(std::get<AgentWentOffline>(*v2).reason == OfflineReason::termination_notice);
  CHECK_FALSE(decode_payload<AgentEvent>("AgentWentOffline", 2, R"({"last_seen":5})").ok());
  CHECK_FALSE(decode_payload<AgentEvent>("AgentWentOffline", 2, R"({"reason":"bored"})").ok());
  // A report's data is an object, and it has a type.
  CHECK_FALSE(
      decode_payload<AgentEvent>("AgentReported", 1, R"({"type":"crash","reported_at_ms":1,"data":[]})").ok());
  CHECK_FALSE(
      decode_payload<AgentEvent>("AgentReported", 1, R"({"type":"","reported_at_ms":1,"data":{}})").ok());
}

TEST_CASE("the rollout's events are in the catalogue and read back what they wrote") {
  for (const char* name : {"RolloutCreated", "RolloutStageStarted", "RolloutStageBaking", "RolloutStageFinished",
                           "RolloutPaused", "RolloutResumed", "RolloutAborted", "RolloutRolledBack",
                           "RolloutCompleted"}) {
    CAPTURE(name);
    REQUIRE(find_event_type(name) != nullptr);
    CHECK(find_event_type(name)->stream_kind == "rollout");
  }
  RolloutCreated to_group;
  to_group.rollout_id = "0123456789abcdef";
  to_group.org = "acme";
  to_group.name = "collector v2";
  to_group.target.group = "prod";
  to_group.change.assignment.config = ConfigRef{"collector", 2};
  to_group.change.assignment.policies = {{"tls", 0}};
  to_group.stages = {{std::nullopt, 1, 60'000}, {12.5, std::nullopt, 0}, {100.0, std::nullopt, 300'000}};
  to_group.gate = RolloutGate{0, 2.5, 100};
  to_group.on_failure = RolloutOnFailure::rollback;
  to_group.principal = "key:0123456789abcdef";
  RolloutCreated to_selector = to_group;
  to_selector.target = RolloutTarget{std::nullopt, {{"env", "prod"}, {"zone", "a"}}};
  to_selector.change = RolloutChange{RolloutChangeKind::settings, {}};
  to_selector.change.assignment.settings = {{"log", {{"level", "debug"}}}};
  to_selector.on_failure = RolloutOnFailure::pause;
  const RolloutCounts counts{10, 7, 1, 1, 1};
  for (const RolloutEvent& event : std::vector<RolloutEvent>{
           to_group, to_selector, RolloutStageStarted{0, 42, 1}, RolloutStageStarted{1, std::nullopt, 0},
           RolloutStageStarted{2, kWholeTarget, 10}, RolloutStageBaking{1, 1764640000000},
           RolloutStageFinished{1, counts}, RolloutPaused{"gate: failed", "failed", counts},
           RolloutPaused{"paused by key:k", "", {}}, RolloutResumed{}, RolloutAborted{"aborted by key:k"},
           RolloutRolledBack{"gate: offline", "offline", counts}, RolloutCompleted{}}) {
    check_round_trip(event);
  }
}

TEST_CASE("the alert's events are in the catalogue and read back what they wrote") {
  for (const char* name : {"AlertFired", "AlertResolved", "AlertAcknowledged", "AlertSilenced"}) {
    CAPTURE(name);
    REQUIRE(find_event_type(name) != nullptr);
    CHECK(find_event_type(name)->stream_kind == "alert");
  }
  AlertFired fired;
  fired.alert_id = "0123456789abcdef.agent.3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10";
  fired.org = "acme";
  fired.rule_id = "0123456789abcdef";
  fired.rule_name = "cpu high";
  fired.episode = 2;
  fired.subject = AlertSubject{AlertSubjectKind::agent, "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"};
  fired.severity = AlertSeverity::critical;
  fired.summary = "cpu avg 5m 97.5 > 90";
  fired.details = {{"value", 97.5}, {"threshold", 90}};
  fired.fired_at_ms = 1764640120000;
  fired.pending_since_ms = 1764640000000;
  fired.channels = {"ops-webhook", "ops-mail"};
  fired.escalation = {{900'000, {"pager"}}, {3'600'000, {"pager", "cto"}}};
  fired.group_wait_ms = 30'000;
  AlertFired fleet = fired;
  fleet.alert_id = "0123456789abcdef.group.prod";
  fleet.subject = AlertSubject{AlertSubjectKind::group, "prod"};
  fleet.channels.clear();
  fleet.escalation.clear();
  fleet.details = nlohmann::json::object();
  for (const AlertEvent& event : std::vector<AlertEvent>{
           fired, fleet, AlertResolved{fired.alert_id, 2, 1764640300000, "condition cleared"},
           AlertAcknowledged{fired.alert_id, 2, "key:0123456789abcdef", 1764640200000, "looking"},
           AlertSilenced{fired.alert_id, 2, "key:0123456789abcdef", 1764640200000, 1764643800000, "deploy"}}) {
    check_round_trip(event);
  }
  CHECK_FALSE(decode_payload<AlertEvent>("AlertResolved", 1, R"({"alert_id":"a","episode":0,)"
                                                             R"("resolved_at_ms":1,"reason":""})")
                  .ok());
  CHECK_FALSE(decode_payload<AlertEvent>("AlertFired", 1, R"({"alert_id":"a"})").ok());
  auto bad_severity = fired.to_json();
  bad_severity["severity"] = "apocalyptic";
  CHECK_FALSE(decode_payload<AlertEvent>("AlertFired", 1, bad_severity.dump()).ok());
  auto bad_subject = fired.to_json();
  bad_subject["subject"]["kind"] = "planet";
  CHECK_FALSE(decode_payload<AlertEvent>("AlertFired", 1, bad_subject.dump()).ok());
}
