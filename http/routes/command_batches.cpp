// Batches of commands: one command for every agent a selector picks
// (POST /api/v1/commands, operator), and the batch's progress (GET
// /api/v1/command-batches/{batch_id}, viewer). A batch runs as a bulk job
// (actors/bulk/bulk_service.hpp): it survives restarts and queues in chunks,
// so heartbeats go on while 100,000 commands are queued.

#include "http/assignment_parsing.hpp"
#include "http/call.hpp"
#include "http/command_json.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

// {selector, type, params?, priority?, not_before?, expires_in?}.
Parsed<BulkRequest> parse_batch_request(const json& body) {
  json problems = json::object();
  BulkRequest request;
  request.action = BulkAction::send_command;
  const CommandRequest command = parse_command_fields(body, true, problems);
  request.params.command = BulkCommand{command.type, command.params, command.priority, command.not_before_ms,
                                       command.expires_in_ms};
  const auto selector = body.find("selector");
  if (selector == body.end() || selector->is_null()) {
    problems["selector"] =
        "is required: an object of criteria (agent_ids, group, labels, status, config_status, q)";
  } else {
    request.selector = parse_bulk_selector(*selector, problems);
  }
  if (!problems.empty()) return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  return request;
}

// The batch's job view with the command it queues, its commands per state
// now, and the agents it refused (a batch's failures are its refusals).
json batch_to_json(const BulkJob& job, const std::optional<CommandStateCounts>& counts) {
  json view = bulk_job_to_json(job, true);
  json answer = {{"batch_id", job.job_id},
                 {"org", job.org},
                 {"type", job.params.command.type},
                 {"params", job.params.command.params},
                 {"priority", to_string(job.params.command.priority)},
                 {"expires_in_ms", job.params.command.expires_in_ms},
                 {"state", view["state"]},
                 {"total", job.total},
                 {"done", job.done},
                 {"queued", job.succeeded},
                 {"refused", job.failed},
                 {"refusals", std::move(view["failures"])},
                 {"created_at", view["created_at"]},
                 {"finished_at", view["finished_at"]},
                 {"created_by", job.principal},
                 {"position", job.last_position}};
  json states = json::object();
  for (std::size_t index = 0; index < kCommandStateCount; ++index) {
    states[to_string(static_cast<CommandState>(index))] = counts ? (*counts)[index] : 0;
  }
  answer["commands"] = std::move(states);
  return answer;
}

void create_batch(const std::shared_ptr<Call>& call) {
  start_bulk_job(call, parse_batch_request, "/api/v1/command-batches/", [](const Call& made, const BulkJob& job) {
    return batch_to_json(job, made.services.commands->batch_counts(job.job_id));
  });
}

void get_batch(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const std::string& batch_id = call->params["batch_id"];
    const auto job = call->services.bulk->find(call->principal, batch_id);
    if (!job || job->action != BulkAction::send_command) {
      return call->reply_error(404, "no such batch of commands", "BATCH_NOT_FOUND",
                               json{{"batch_id", batch_id}});
    }
    call->reply_json(200, batch_to_json(*job, call->services.commands->batch_counts(batch_id)));
  });
}

}  // namespace

void add_command_batches(RouteTable& table) {
  table.add("POST", "/api/v1/commands", {create_batch, Credential::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/command-batches/{batch_id}",
            any_node({get_batch, Credential::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
