// Request bodies as every JSON endpoint reads them: parse_json_object, then the
// endpoint's parser. Input: '0' registration, '1' heartbeat, '2' API key,
// '3' enrollment token, '4' a command, '5' a batch of commands, '6' an
// assignment, followed by the body.
//
// Beyond "no crash": a refusal carries its code and per-field details, an
// accepted body respects every bound request_parsing.hpp documents, and what
// the agent's decider makes of an accepted registration or heartbeat folds
// cleanly, since the server appends exactly that.

#include <cmath>
#include <string>
#include <variant>

#include "actors/agent/agent_decider.hpp"
#include "actors/command/command_gate.hpp"
#include "eventstore/metrics/metric_name.hpp"
#include "http/assignment_parsing.hpp"
#include "http/command_json.hpp"
#include "http/request_parsing.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using muster::http::Invalid;

const muster::AgentId kAgentId = *muster::AgentId::parse("9a4f82ed-30c0-4871-a5fe-40fcc214df27");
const muster::Sha256 kTokenSha256 = muster::sha256("the agent's token");

bool is_label_key(const std::string& key) {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("._/-").find(c) == std::string_view::npos) return false;
  }
  return true;
}

void require_refusal(const Invalid& invalid, std::string_view code) {
  FUZZ_REQUIRE(!invalid.message.empty());
  FUZZ_REQUIRE(invalid.code == code);
  FUZZ_REQUIRE(invalid.details.is_object() && !invalid.details.empty());
  // The server sends the details as JSON; a throw here would be a 500.
  FUZZ_REQUIRE(!invalid.details.dump().empty());
}

// Folds what the decider returned as the store would number it; every event must fold.
void fold_decided(muster::AgentState& state, const muster::Result<std::vector<muster::AgentEvent>>& decided) {
  FUZZ_REQUIRE(decided.ok());
  for (const muster::AgentEvent& decided_event : *decided) {
    const muster::NewEvent made = muster::encode_payload(decided_event);
    muster::Event event;
    event.position = state.last_position + 1;
    event.stream = state.stream();
    event.version = state.version + 1;
    event.type = made.type;
    event.time_ms = 1'700'000'000'000 + static_cast<muster::TimeMs>(event.version);
    event.schema_version = made.schema_version;
    event.data = made.data;
    event.meta = made.meta;
    FUZZ_REQUIRE(apply(state, event).ok());
  }
}

muster::Admission test_admission() {
  muster::Admission admission;
  admission.enrollment_token_id = "0123456789abcdef";
  admission.agent_token = kTokenSha256;
  return admission;
}

void check_registration(const muster::Registration& registration) {
  FUZZ_REQUIRE(muster::http::is_valid_instance_id(registration.instance_id));
  for (const auto* text :
       {&registration.name, &registration.hostname, &registration.version, &registration.type})
    FUZZ_REQUIRE(!*text || (*text)->size() <= 256);
  FUZZ_REQUIRE(!registration.ip_address || registration.ip_address->size() <= 45);
  if (registration.capabilities) {
    FUZZ_REQUIRE(registration.capabilities->size() <= 64);
    for (const std::string& capability : *registration.capabilities)
      FUZZ_REQUIRE(!capability.empty() && capability.size() <= 128);
  }
  if (registration.labels) {
    FUZZ_REQUIRE(registration.labels->size() <= 64);
    for (const auto& [key, value] : *registration.labels)
      FUZZ_REQUIRE(is_label_key(key) && value.size() <= 256);
  }
  muster::AgentState state = muster::fresh_agent_state(kAgentId);
  fold_decided(state, decide_register(state, registration, test_admission()));
  FUZZ_REQUIRE(state.status == muster::AgentStatus::online);
  FUZZ_REQUIRE(state.instance_id == registration.instance_id);
  FUZZ_REQUIRE(state.credentials.has_token && state.credentials.token == kTokenSha256);
  if (registration.name) FUZZ_REQUIRE(state.profile.name == *registration.name);
}

// An agent registered with a minimal body: what a heartbeat lands on.
const muster::AgentState& registered_agent() {
  static const muster::AgentState registered = [] {
    muster::Registration registration;
    registration.instance_id = "i-0abc123";
    muster::AgentState state = muster::fresh_agent_state(kAgentId);
    fold_decided(state, decide_register(state, registration, test_admission()));
    return state;
  }();
  return registered;
}

void check_heartbeat(const muster::HeartbeatReport& report) {
  FUZZ_REQUIRE(!report.status || muster::is_live(*report.status));
  FUZZ_REQUIRE(!report.version || report.version->size() <= 256);
  FUZZ_REQUIRE(report.metrics.size() <= muster::kMaxMetricsPerHeartbeat);
  for (const auto& [name, value] : report.metrics) {
    FUZZ_REQUIRE(muster::is_valid_metric_name(name) && std::isfinite(value));
  }
  muster::AgentState state = registered_agent();
  fold_decided(state, decide_heartbeat(state, report, state.updated_at_ms));
  FUZZ_REQUIRE(state.status == report.status.value_or(muster::AgentStatus::online));
  if (report.version) FUZZ_REQUIRE(*state.profile.version == *report.version);
}

void check_api_key_request(const muster::ApiKeyRequest& request) {
  FUZZ_REQUIRE(!request.name.empty() && request.name.size() <= 128);
  FUZZ_REQUIRE(!request.org || *request.org == muster::kAllOrgs || muster::http::is_valid_org(*request.org));
}

void check_enrollment_token_body(const muster::EnrollmentTokenRequest& request) {
  FUZZ_REQUIRE(!request.name.empty() && request.name.size() <= 128);
  FUZZ_REQUIRE(request.expires_in_ms >= 1000 && request.expires_in_ms <= 10LL * 366 * 24 * 3600 * 1000);
  FUZZ_REQUIRE(!request.max_uses || (*request.max_uses >= 1 && *request.max_uses <= 1'000'000'000));
  FUZZ_REQUIRE(request.labels.size() <= 64);
  for (const auto& [key, value] : request.labels) FUZZ_REQUIRE(is_label_key(key) && value.size() <= 256);
  FUZZ_REQUIRE(!request.org || muster::http::is_valid_org(*request.org));
}

// A command's fields (one agent's, or a batch's with its selector): each
// problem names a field; what is accepted is within the documented bounds.
void check_command_fields(const nlohmann::json& body, bool for_batch) {
  nlohmann::json problems = nlohmann::json::object();
  const muster::CommandRequest request = muster::http::parse_command_fields(body, for_batch, problems);
  muster::BulkSelector selector;
  if (for_batch) {
    const auto found = body.find("selector");
    if (found != body.end() && !found->is_null()) selector = muster::http::parse_bulk_selector(*found, problems);
  }
  FUZZ_REQUIRE(problems.is_object());
  FUZZ_REQUIRE(!problems.dump().empty());
  if (!problems.empty()) return;
  FUZZ_REQUIRE(muster::is_valid_command_type(request.type));
  FUZZ_REQUIRE(request.params.is_object());
  FUZZ_REQUIRE(request.expires_in_ms >= muster::kMinCommandExpiryMs &&
               request.expires_in_ms <= muster::kMaxCommandExpiryMs);
  FUZZ_REQUIRE(for_batch ? request.idempotency_key.empty() : request.idempotency_key.size() <= 128);
  if (selector.agent_ids) FUZZ_REQUIRE(!selector.agent_ids->empty() && selector.agent_ids->size() <= muster::kMaxBulkAgents);
}

void check_assignment(const muster::Assignment& assignment) {
  FUZZ_REQUIRE(!assignment.config || muster::is_valid_config_name(assignment.config->name));
  for (const muster::ConfigRef& policy : assignment.policies) FUZZ_REQUIRE(muster::is_valid_config_name(policy.name));
  FUZZ_REQUIRE(assignment.settings.is_object());
}

// Runs `parse` on the object and checks either outcome.
template <class Parse, class Check>
void parse_and_check(const nlohmann::json& body, Parse parse, Check check) {
  const auto parsed = parse(body);
  if (const auto* invalid = std::get_if<Invalid>(&parsed)) {
    require_refusal(*invalid, "VALIDATION_FAILED");
  } else {
    check(std::get<0>(parsed));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto selected = muster::fuzz::select_parser(data, size, 7);
  if (!selected) return 0;
  // Only the heartbeat's body is optional, as in api_server.cpp.
  const bool allow_empty = selected->parser == 1;
  const auto object = muster::http::parse_json_object(selected->text, allow_empty);
  if (const auto* invalid = std::get_if<Invalid>(&object)) {
    require_refusal(*invalid, "INVALID_JSON");
    return 0;
  }
  const nlohmann::json& body = std::get<nlohmann::json>(object);
  FUZZ_REQUIRE(body.is_object());
  switch (selected->parser) {
    case 0: parse_and_check(body, muster::http::parse_registration, check_registration); break;
    case 1: parse_and_check(body, muster::http::parse_heartbeat, check_heartbeat); break;
    case 2: parse_and_check(body, muster::http::parse_api_key_request, check_api_key_request); break;
    case 3:
      parse_and_check(body, muster::http::parse_enrollment_token_request, check_enrollment_token_body);
      break;
    case 4: check_command_fields(body, false); break;
    case 5: check_command_fields(body, true); break;
    case 6: parse_and_check(body, muster::http::parse_assignment, check_assignment); break;
  }
  return 0;
}
