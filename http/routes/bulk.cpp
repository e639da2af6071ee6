// /api/v1/bulk: one change applied to many agents of an organization, as a
// job that runs in the background, survives restarts and shows its progress.
// Operators create jobs (in the organization Call::require_org gives);
// viewers read them.

#include <fmt/format.h>

#include "http/assignment_parsing.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::uint64_t kDefaultJobPage = 20;
constexpr std::uint64_t kMaxJobPage = 100;

// The member `key` of `object` unless absent or null.
const json* member(const json& object, const char* key) {
  const auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

// Moves every detail of `invalid` into `problems`, each field under `prefix`.
void add_details(json& problems, const Invalid& invalid, const std::string& prefix) {
  for (const auto& [field, why] : invalid.details.items()) problems[prefix + field] = why;
}

// What `action` takes in "params"; problems go under "params.<member>".
BulkParams parse_params(BulkAction action, const json& value, json& problems) {
  BulkParams params;
  if (!value.is_object()) {
    problems["params"] = "must be an object";
    return params;
  }
  if (action == BulkAction::assign) {
    auto assignment = parse_assignment(value);
    if (auto* invalid = std::get_if<Invalid>(&assignment)) {
      add_details(problems, *invalid, "params.");
    } else if (!std::get<Assignment>(assignment).empty()) {
      params.assignment = std::get<Assignment>(std::move(assignment));
    }
    return params;
  }
  const char* takes = action == BulkAction::set_settings ? "settings"
                      : action == BulkAction::set_labels ? "labels"
                      : action == BulkAction::deregister ? ""
                                                         : "group";
  for (const auto& [key, item] : value.items()) {
    if (key != takes) {
      problems["params." + key] = *takes == '\0'
                                      ? fmt::format("is not a param: {} takes none", to_string(action))
                                      : fmt::format("is not a param of {} ({})", to_string(action), takes);
    }
  }
  if (*takes == '\0') return params;
  const json* given = member(value, takes);
  if (given == nullptr) {
    problems[std::string("params.") + takes] = "is required";
    return params;
  }
  if (action == BulkAction::set_settings) {
    // The rules of an assignment's settings (an object, its depth and size).
    auto checked = parse_assignment(json{{"settings", *given}});
    if (auto* invalid = std::get_if<Invalid>(&checked)) {
      add_details(problems, *invalid, "params.");
    } else {
      params.settings = *given;
    }
  } else if (action == BulkAction::set_labels) {
    auto labels = parse_labels(*given, "params.labels");
    if (auto* invalid = std::get_if<Invalid>(&labels)) {
      add_details(problems, *invalid, "");
    } else {
      params.labels = std::get<std::map<std::string, std::string>>(std::move(labels));
    }
  } else if (!given->is_string() || !is_valid_config_name(given->get_ref<const std::string&>())) {
    problems["params.group"] = "must be a group name: [a-z0-9][a-z0-9._-]{0,62}";
  } else {
    params.group = given->get<std::string>();
  }
  return params;
}

// {selector, action, params}.
Parsed<BulkRequest> parse_bulk_request(const json& body) {
  json problems = json::object();
  BulkRequest request;
  for (const auto& [key, value] : body.items()) {
    if (key != "selector" && key != "action" && key != "params") {
      problems[key] = "is not a member of a bulk job (selector, action, params)";
    }
  }
  const json* action = member(body, "action");
  const auto parsed_action =
      action != nullptr && action->is_string() ? parse_bulk_action(action->get<std::string>()) : std::nullopt;
  if (!parsed_action || *parsed_action == BulkAction::send_command) {
    problems["action"] = fmt::format("is required: one of {} (a batch of commands: POST /api/v1/commands)",
                                     bulk_action_names());
  } else {
    request.action = *parsed_action;
    const json* params = member(body, "params");
    request.params = parse_params(request.action, params ? *params : json::object(), problems);
  }
  if (const json* selector = member(body, "selector")) {
    request.selector = parse_bulk_selector(*selector, problems);
  } else {
    problems["selector"] =
        "is required: an object of criteria (agent_ids, group, labels, status, config_status, q)";
  }
  if (!problems.empty())
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  return request;
}

void create_job(const std::shared_ptr<Call>& call) {
  start_bulk_job(call, parse_bulk_request, "/api/v1/bulk/",
                 [](const Call&, const BulkJob& job) { return bulk_job_to_json(job, true); });
}

void get_job(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto job = call->services.bulk->find(call->principal, call->params["job_id"]);
    if (!job) return call->reply_failure(job.error());
    call->reply_json(200, bulk_job_to_json(*job, true));
  });
}

void list_jobs(const std::shared_ptr<Call>& call) {
  auto limit = parse_uint_param(call->head.query, "limit", kDefaultJobPage, kMaxJobPage);
  if (auto* invalid = std::get_if<Invalid>(&limit)) return call->reply_invalid(*invalid);
  if (std::get<std::uint64_t>(limit) == 0) {
    return call->reply_error(400, "invalid query parameter 'limit'", "INVALID_PARAMETER",
                             json{{"limit", fmt::format("must be 1 to {}", kMaxJobPage)}});
  }
  std::optional<std::string> after;
  if (const auto cursor = call->head.query.find("cursor"); cursor != call->head.query.end())
    after = cursor->second;
  call->when_projected([call, limit = std::get<std::uint64_t>(limit), after] {
    const auto page = call->services.bulk->list(call->principal, limit, after);
    if (!page) {
      return call->reply_error(400, "invalid query parameter 'cursor'", "INVALID_PARAMETER",
                               json{{"cursor", page.error().message}});
    }
    json jobs = json::array();
    for (const BulkJob& job : page->jobs) jobs.push_back(bulk_job_to_json(job, false));
    call->reply_json(200, {{"jobs", std::move(jobs)},
                           {"next_cursor", page->next_after ? json(*page->next_after) : json(nullptr)}});
  });
}

}  // namespace

void start_bulk_job(const std::shared_ptr<Call>& call, Parsed<BulkRequest> (*parse)(const json& body),
                    const char* location, json (*view)(const Call& call, const BulkJob& job)) {
  std::string org;
  json body;
  if (!call->require_org(org) || !call->parse_body(false, body)) return;
  auto parsed = parse(body);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  call->when_projected([call, org, location, view, request = std::get<BulkRequest>(std::move(parsed))] {
    call->await<BulkJob>(
        "BUSY", [&](auto done) { call->services.bulk->create(org, request, call->context, std::move(done)); },
        [call, location, view](Result<BulkJob> job) {
          if (!job) return call->reply_failure(job.error());
          Response response;
          response.status = 202;
          response.headers.emplace_back("Location", location + job->job_id);
          response.body = view(*call, *job).dump(-1, ' ', false, json::error_handler_t::replace);
          call->reply(std::move(response));
        });
  });
}

void add_bulk(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/bulk", {create_job, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/bulk", any_node({list_jobs, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/bulk/{job_id}", any_node({get_job, C::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
