#include "http/call.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.hpp"
#include "http/api.hpp"
#include "http/forwarding.hpp"

namespace muster::http {

using nlohmann::json;

namespace {

std::string body_text(const json& body) {
  // Invalid UTF-8 cannot come from parsed input, but never let dump() throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

Response error_response(int status, const std::string& message, const std::string& code, const json& details) {
  Response response;
  response.status = status;
  response.body = body_text(error_body(message, code, details));
  return response;
}

Call::Call(RequestHead head_in, Reply reply, const Services& services_in, const ApiOptions& options_in,
           AuthThrottle& throttle)
    : head(std::move(head_in)),
      services(services_in),
      options(options_in),
      send_(std::move(reply)),
      throttle_(throttle) {}

Call::~Call() {
  // A handler that forgot to answer would leave the client hanging.
  if (!answered()) reply_error(500, "internal error", "INTERNAL_ERROR");
}

void Call::reply(Response response) {
  if (answered_.exchange(true, std::memory_order_acq_rel)) return;
  if (const TimerService::TimerId deadline = deadline_.exchange(0); deadline != 0) {
    services.timers->cancel(deadline);
  }
  if (api != nullptr) {
    api->request_metrics().record(route_index, response.status, std::chrono::steady_clock::now() - started_at);
  }
  response.headers.emplace_back("X-Request-Id", context.request_id);
  // Every 503 says when to retry, unless it says so itself (a leader's answer passed on).
  const bool says_when = std::any_of(response.headers.begin(), response.headers.end(),
                                     [](const auto& field) { return equals_ignoring_case(field.first, "Retry-After"); });
  if (response.status == 503 && !says_when) response.headers.emplace_back("Retry-After", "1");
  // For the follower that forwarded it: where this node's read models were (see forwarding.hpp).
  if (services.cluster != nullptr && head.headers.find(kForwardedByHeader)) {
    response.headers.emplace_back(kPositionHeader, std::to_string(services.projections->position()));
  }
  Reply send = std::move(send_);
  send(std::move(response));
}

void Call::reply_body(int status, std::string json_text) {
  Response response;
  response.status = status;
  response.body = std::move(json_text);
  reply(std::move(response));
}

void Call::reply_json(int status, const json& body) {
  reply_body(status, body_text(body));
}

void Call::reply_error(int status, const std::string& message, const std::string& code, const json& details) {
  reply(error_response(status, message, code, details));
}

void Call::reply_invalid(const Invalid& invalid) {
  reply_error(400, invalid.message, invalid.code, invalid.details);
}

void Call::reply_failure(const Error& error) {
  const StatusMapping mapping = status_for(error.code);
  const std::string code = error.reason.empty() ? mapping.code : error.reason;
  if (error.code == ErrorCode::unauthenticated) {
    throttle_.record_failure(head.remote_address);
    log::warn("authentication failed",
              {{"request_id", context.request_id}, {"source", head.remote_address}, {"path", head.path},
               {"code", code}});
  }
  if (mapping.status < 500) {
    const json details = error.field.empty() ? json(nullptr) : json{{error.field, error.message}};
    return reply_error(mapping.status, error.message, code, details);
  }
  // The details (a file path, a RocksDB status) are for the log, not the client.
  log::error("request failed",
             {{"request_id", context.request_id}, {"path", head.path}, {"code", code}, {"error", error.message}});
  const bool storage = error.code == ErrorCode::io_error || error.code == ErrorCode::corruption;
  const bool retry = mapping.status == 503;
  reply_error(mapping.status,
              storage ? (retry ? "storage is unavailable; retry shortly" : "stored data is damaged; see the server log")
                      : (retry ? error.message : "internal error; see the server log"),
              code);
}

bool Call::parse_body(bool allow_empty, json& out) {
  auto parsed = parse_json_object(body, allow_empty);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) {
    reply_invalid(*invalid);
    return false;
  }
  out = std::move(std::get<json>(parsed));
  return true;
}

AgentAccess Call::agent_access() const {
  AgentAccess access;
  if (agent_token) access.token = agent_token->digest;
  access.org_scope = principal.org;
  return access;
}

bool Call::require_agent_id(AgentId& agent_id) {
  if (const auto parsed = AgentId::parse(params["agent_id"])) {
    agent_id = *parsed;
    return true;
  }
  reply_error(400, "agent id must be a lowercase UUID", "INVALID_AGENT_ID",
              json{{"agent_id", "must be a UUID such as 3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"}});
  return false;
}

bool Call::require_org(std::string& org) {
  std::optional<std::string> wanted;
  if (const auto found = head.query.find("org"); found != head.query.end()) {
    if (!is_valid_org(found->second)) {
      reply_error(400, "invalid query parameter 'org'", "INVALID_PARAMETER",
                  json{{"org", "must be 1 to 128 characters of [A-Za-z0-9._-]"}});
      return false;
    }
    wanted = found->second;
  }
  auto resolved = creation_org(principal, wanted);
  if (!resolved) {
    reply_failure(resolved.error());
    return false;
  }
  org = std::move(*resolved);
  return true;
}

void Call::when_projected(std::function<void()> then) {
  auto wanted = parse_uint_param(head.query, "min_position", 0, UINT64_MAX);
  if (auto* invalid = std::get_if<Invalid>(&wanted)) return reply_invalid(*invalid);
  const std::uint64_t min_position = std::get<std::uint64_t>(wanted);
  if (services.projections->position() >= min_position) return then();
  auto self = shared_from_this();
  // Whichever comes first answers: the fold reaching the position, or the bound.
  const TimerService::TimerId bound =
      services.timers->schedule_after(options.max_min_position_wait_ms, [self, min_position] {
        self->reply_error(503,
                          fmt::format("the read model has not reached position {} yet (at {})", min_position,
                                      self->services.projections->position()),
                          "PROJECTION_LAGGING");
      });
  services.projections->when_folded(min_position, [self, bound, then = std::move(then)] {
    self->services.timers->cancel(bound);
    if (!self->answered()) then();
  });
}

void Call::arm_deadline(const char* busy_code) {
  std::weak_ptr<Call> weak = weak_from_this();
  const std::string code = busy_code;
  const TimerService::TimerId id = services.timers->schedule_after(options.request_timeout_ms, [weak, code] {
    if (auto self = weak.lock()) self->reply_error(503, "no answer in time; retry", code);
  });
  deadline_.store(id, std::memory_order_release);
  // Answered meanwhile: reply() may have missed the timer to cancel.
  if (answered() && deadline_.exchange(0) == id) services.timers->cancel(id);
}

void reply_agent_page(Call& call, ListQuery list) {
  const ConfigModel* model = call.services.config_model;
  if (list.group || list.config_status) {
    list.filter.also = [model, also = std::move(list.filter.also), group = list.group,
                        status = list.config_status](const AgentState& state) {
      return (!also || also(state)) && (!group || model->in_group(state.agent_id, *group)) &&
             (!status || model->config_status_of(state.agent_id) == *status);
    };
  }
  AgentPage page =
      list.limit == 0 ? AgentPage{} : call.services.registry->list(list.filter, list.limit, list.after);
  for (AgentView& agent : page.agents) fill_config(agent, *model);
  call.reply_body(200, agent_page_json(page, call.services.timers->now_ms(), call.options.health));
}

void reply_revoked(Call& call, const std::string& id, const Result<std::uint64_t>& revoked) {
  if (!revoked) return call.reply_failure(revoked.error());
  call.reply_json(200, {{"id", id}, {"revoked", true}, {"position", *revoked}});
}

}  // namespace muster::http
