// /api/v1/agents/{id}/config: what an agent is told to run (its desired
// configuration, fetched with If-None-Match), what it says it did with it
// and what it runs (the agent, with its token), and where it stands, drift
// included (operators); /api/v1/agents/{id}/assignment: what an operator
// assigns to this agent alone.
//
// A report that repeats the agent's last one appends nothing: agents may
// report on every poll without growing the log.

#include <fmt/format.h>

#include "common/time_format.hpp"
#include "http/assignment_parsing.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

/// The longest `error` an agent's failure report keeps.
constexpr std::size_t kMaxReportErrorBytes = 4096;

json ref_json(const std::optional<ResolvedRef>& ref) {
  if (!ref) return nullptr;
  return {{"name", ref->name}, {"version", ref->version}, {"hash", ref->hash}, {"source", ref->source}};
}

// The ETag of a desired configuration: its hash, quoted.
std::string etag_of(const DesiredConfig& desired) {
  return "\"" + desired.hash + "\"";
}

// True if an If-None-Match header names `etag` (or is "*").
bool none_match(const Call& call, const std::string& etag) {
  const auto header = call.head.headers.find("if-none-match");
  if (!header) return false;
  for (std::string_view item : split_header_list(*header)) {
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
  }
  return false;
}

json desired_json(const DesiredConfig& desired) {
  json policies = json::array();
  for (const ResolvedRef& policy : desired.policies) policies.push_back(ref_json(policy));
  return {{"config_hash", desired.hash},
          {"files_hash", desired.files_hash},
          {"files", files_to_json(*desired.files)},
          {"settings", desired.settings},
          {"config", ref_json(desired.config)},
          {"policies", std::move(policies)},
          {"settings_sources", desired.settings_sources}};
}

// The agent's own fetch: {config_version, config_hash, files, settings}.
void agent_fetch(const std::shared_ptr<Call>& call, const AgentId& agent_id) {
  const DesiredSummary summary = call->services.config_model->desired_of(agent_id);
  if (!summary.desired) {
    return call->reply_json(200, {{"config_version", summary.config_version},
                                  {"config_hash", ""},
                                  {"files", json::object()},
                                  {"settings", json::object()}});
  }
  const std::string etag = etag_of(*summary.desired);
  Response response;
  response.headers.emplace_back("ETag", etag);
  if (none_match(*call, etag)) {
    response.status = 304;
    return call->reply(std::move(response));
  }
  response.status = 200;
  response.body = json{{"config_version", summary.config_version},
                       {"config_hash", summary.desired->hash},
                       {"files", files_to_json(*summary.desired->files)},
                       {"settings", summary.desired->settings}}
                      .dump(-1, ' ', false, json::error_handler_t::replace);
  call->reply(std::move(response));
}

// The operator's view of the agent's configuration, from the config model.
void answer_operator_view(const std::shared_ptr<Call>& call, const AgentId& agent_id) {
  const auto org = call->services.registry->org_of(agent_id);
  const auto view = org && org_visible(call->principal.org, *org)
                        ? call->services.config_model->agent(agent_id)
                        : std::nullopt;
  if (!view) return call->reply_error(404, "no agent with this id", kAgentNotFound);
  json reported = nullptr;
  if (view->report) {
    reported = {{"config_hash", view->report->config_hash},
                {"status", to_string(view->report->status)},
                {"reported_at", format_rfc3339(view->reported_at_ms)}};
    if (!view->report->error.empty()) reported["error"] = view->report->error;
  }
  json effective = nullptr;
  if (view->effective_files) {
    effective = {{"files_hash", view->effective_hash},
                 {"files", files_to_json(*view->effective_files)},
                 {"reported_at", format_rfc3339(view->effective_at_ms)}};
  }
  call->reply_json(
      200, {{"agent_id", agent_id.to_string()},
            {"org", view->org},
            {"config_version", view->config_version},
            {"config_status", to_string(view->status)},
            {"desired", view->desired ? desired_json(*view->desired) : json(nullptr)},
            {"assignment", view->assignment ? assignment_to_json(*view->assignment) : json(nullptr)},
            {"groups", view->groups},
            {"rollouts", view->rollouts},
            {"reported", std::move(reported)},
            {"effective", std::move(effective)}});
}

void operator_view(const std::shared_ptr<Call>& call, const AgentId& agent_id) {
  call->when_projected([call, agent_id] {
    // The registry answers registrations; the config model may not have
    // folded this agent's latest event yet. Wait for it, so that an agent
    // the API just admitted is never "not found" here.
    const auto state = call->services.registry->state_of(agent_id);
    call->services.projections->when_folded(state ? state->last_position : 0,
                                            [call, agent_id] { answer_operator_view(call, agent_id); });
  });
}

void get_config(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  if (!call->require_agent_id(agent_id)) return;
  if (call->agent_token) return agent_fetch(call, agent_id);
  operator_view(call, agent_id);
}

// Answers a report once the config model holds it: the agent's status and
// version, and the position of what it appended (none for a repeat).
void reply_reported(const std::shared_ptr<Call>& call, const AgentId& agent_id, std::uint64_t position,
                    std::optional<Invalid> refusal) {
  call->services.projections->when_folded(position, [call, agent_id, position, refusal = std::move(refusal)] {
    if (refusal) return call->reply_invalid(*refusal);
    const DesiredSummary summary = call->services.config_model->desired_of(agent_id);
    json body{{"agent_id", agent_id.to_string()},
              {"config_status", to_string(call->services.config_model->config_status_of(agent_id))},
              {"config_version", summary.config_version},
              {"config_hash", summary.desired ? summary.desired->hash : std::string()}};
    if (position != 0) body["position"] = position;
    call->reply_json(200, body);
  });
}

// Records an agent's config report, refusing (yet recording) a hash never desired here.
void record_status(const std::shared_ptr<Call>& call, const AgentId& agent_id, AgentConfigReported report) {
  const auto view = call->services.config_model->agent(agent_id);
  if (view && view->report && view->report->config_hash == report.config_hash &&
      view->report->status == report.status && view->report->error == report.error) {
    return reply_reported(call, agent_id, 0, std::nullopt);
  }
  // A hash never desired of any agent of the org is refused, yet recorded:
  // the agent runs something muster never gave it, and shows as drifted.
  std::optional<Invalid> refusal;
  const bool desired_now = view && view->desired && view->desired->hash == report.config_hash;
  if (view && !desired_now && !call->services.config_model->was_desired(view->org, report.config_hash)) {
    refusal = Invalid{"this config_hash was never desired of an agent here; recorded as drift",
                      "CONFIG_HASH_UNKNOWN"};
    refusal->details["config_hash"] = "was never the desired config_hash of an agent of this organization";
  }
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) {
        call->services.agents->report_config(agent_id, call->agent_access(), std::move(report), call->context,
                                             std::move(done));
      },
      [call, agent_id, refusal = std::move(refusal)](Result<AgentOutcome> outcome) mutable {
        if (!outcome) return call->reply_failure(outcome.error());
        reply_reported(call, agent_id, outcome->position, std::move(refusal));
      });
}

void report_status(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(false, body)) return;
  Invalid invalid{"request validation failed", "VALIDATION_FAILED"};
  AgentConfigReported report;
  const auto hash = body.find("config_hash");
  const auto digest =
      hash != body.end() && hash->is_string() ? sha256_from_hex(hash->get<std::string>()) : std::nullopt;
  if (!digest) {
    invalid.details["config_hash"] = "must be the 64 hex digits of a config_hash this server gave";
  } else {
    report.config_hash = to_hex(*digest);  // lowercase, as the server writes hashes
  }
  const auto status = body.find("status");
  const auto parsed = status != body.end() && status->is_string()
                          ? parse_config_report_status(status->get<std::string>())
                          : std::nullopt;
  if (!parsed) {
    invalid.details["status"] = "must be \"applying\", \"applied\" or \"failed\"";
  } else {
    report.status = *parsed;
  }
  if (const auto error = body.find("error"); error != body.end() && !error->is_null()) {
    if (!error->is_string() || error->get_ref<const std::string&>().size() > kMaxReportErrorBytes) {
      invalid.details["error"] = fmt::format("must be a string of at most {} bytes", kMaxReportErrorBytes);
    } else {
      report.error = error->get<std::string>();
    }
  }
  if (!invalid.details.empty()) return call->reply_invalid(invalid);
  // Judged against the config model once it holds the agent's latest event:
  // an agent reporting right after it registered is otherwise not in it yet,
  // and an unknown hash would pass unrefused.
  const auto state = call->services.registry->state_of(agent_id);
  call->services.projections->when_folded(
      state ? state->last_position : 0,
      [call, agent_id, report = std::move(report)]() mutable { record_status(call, agent_id, std::move(report)); });
}

void report_effective(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(false, body)) return;
  const auto files_member = body.find("files");
  auto files = parse_config_files(files_member == body.end() ? json(nullptr) : *files_member,
                                  call->options.max_config_bytes);
  if (auto* invalid = std::get_if<Invalid>(&files)) return call->reply_invalid(*invalid);
  AgentEffectiveConfigReported effective;
  effective.hash = hash_files(std::get<ConfigFiles>(files));
  effective.files = std::make_shared<const ConfigFiles>(std::get<ConfigFiles>(std::move(files)));
  const auto view = call->services.config_model->agent(agent_id);
  if (view && view->effective_hash == effective.hash) return reply_reported(call, agent_id, 0, std::nullopt);
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) {
        call->services.agents->report_effective(agent_id, call->agent_access(), std::move(effective),
                                                call->context, std::move(done));
      },
      [call, agent_id](Result<AgentOutcome> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        reply_reported(call, agent_id, outcome->position, std::nullopt);
      });
}

// PUT /api/v1/agents/{id}/assignment: {} (or an empty body) clears it.
void set_assignment(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(true, body)) return;
  auto parsed = parse_assignment(body);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  std::optional<Assignment> assignment;
  if (!std::get<Assignment>(parsed).empty()) assignment = std::get<Assignment>(std::move(parsed));
  const auto org = call->services.registry->org_of(agent_id);
  if (!org || !org_visible(call->principal.org, *org)) {
    return call->reply_error(404, "no agent with this id", kAgentNotFound);
  }
  if (assignment) {
    if (Status checked = call->services.config_model->check_assignment(*org, *assignment); !checked) {
      return call->reply_failure(checked.error());
    }
  }
  const auto answer = [call, agent_id](std::uint64_t position) {
    call->services.projections->when_folded(position, [call, agent_id, position] {
      const auto view = call->services.config_model->agent(agent_id);
      json body{
          {"agent_id", agent_id.to_string()},
          {"assignment", view && view->assignment ? assignment_to_json(*view->assignment) : json(nullptr)},
          {"config_version", view ? view->config_version : 0},
          {"config_status", to_string(view ? view->status : ConfigStatus::none)}};
      if (position != 0) body["position"] = position;
      call->reply_json(200, body);
    });
  };
  // The same assignment again appends nothing (bulk jobs may run twice).
  const auto view = call->services.config_model->agent(agent_id);
  if (view && view->assignment == assignment) return answer(0);
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) {
        call->services.agents->set_assignment(agent_id, call->agent_access(), std::move(assignment),
                                              call->context, std::move(done));
      },
      [call, answer](Result<AgentOutcome> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        answer(outcome->position);
      });
}

}  // namespace

void add_agent_config(RouteTable& table) {
  using C = Credential;
  table.add("GET", "/api/v1/agents/{agent_id}/config", {get_config, C::agent_or_api_key, Role::viewer, true});
  table.add("POST", "/api/v1/agents/{agent_id}/config/status",
            {report_status, C::agent_token, Role::viewer, true, true});
  table.add("PUT", "/api/v1/agents/{agent_id}/config/effective",
            {report_effective, C::agent_token, Role::viewer, true, true});
  table.add("PUT", "/api/v1/agents/{agent_id}/assignment",
            {set_assignment, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
