#include "actors/bulk/bulk_state.hpp"

#include <utility>

#include "actors/runtime/stream_id.hpp"
#include "common/enum_names.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

constexpr std::pair<BulkAction, const char*> kActionNames[] = {
    {BulkAction::assign, "assign"},
    {BulkAction::set_settings, "set_settings"},
    {BulkAction::add_to_group, "add_to_group"},
    {BulkAction::remove_from_group, "remove_from_group"},
    {BulkAction::set_labels, "set_labels"},
    {BulkAction::deregister, "deregister"},
    {BulkAction::send_command, "send_command"},
};

json failures_to_json(const std::vector<BulkFailure>& failures) {
  json out = json::array();
  for (const BulkFailure& failure : failures) {
    out.push_back(
        {{"agent_id", failure.agent_id.to_string()}, {"code", failure.code}, {"error", failure.error}});
  }
  return out;
}

bool read_failures(const json& data, std::vector<BulkFailure>& out) {
  const auto found = data.find("failures");
  if (found == data.end() || !found->is_array()) return false;
  for (const json& item : *found) {
    std::string agent_id;
    BulkFailure failure;
    if (!item.is_object() || !read(item, "agent_id", agent_id) || !read(item, "code", failure.code) ||
        !read(item, "error", failure.error)) {
      return false;
    }
    const auto parsed = AgentId::parse(agent_id);
    if (!parsed) return false;
    failure.agent_id = *parsed;
    out.push_back(std::move(failure));
  }
  return true;
}

// The action's name and its params, as events and snapshots hold them.
bool read_action(const json& data, BulkAction& action, BulkParams& params) {
  std::string name;
  const auto found = data.find("params");
  if (!read(data, "action", name) || found == data.end()) return false;
  const auto parsed = parse_bulk_action(name);
  if (!parsed) return false;
  auto read_params = bulk_params_from_json(*parsed, *found);
  if (!read_params) return false;
  action = *parsed;
  params = std::move(*read_params);
  return true;
}

// Folds a chunk's progress; `job` is changed only if it is consistent.
Status apply_progress(BulkJob& job, const BulkJobProgressed& progressed, const EventHeader& header) {
  const std::string_view type = BulkJobProgressed::kType.name;
  if (!job.exists()) return corrupt_event(header, type, "progress of a job never created");
  if (job.finished) return corrupt_event(header, type, "progress of a finished job");
  if (progressed.from != job.done)
    return corrupt_event(header, type, "the chunk does not start where the job stands");
  if (progressed.count == 0 || progressed.count > job.total - job.done) {
    return corrupt_event(header, type, "the chunk is empty or past the job's agents");
  }
  if (progressed.succeeded > progressed.count ||
      progressed.failures.size() != progressed.count - progressed.succeeded) {
    return corrupt_event(header, type, "succeeded and failures do not add up to the chunk");
  }
  job.done += progressed.count;
  job.succeeded += progressed.succeeded;
  job.failed += progressed.failures.size();
  for (const BulkFailure& failure : progressed.failures) {
    if (job.failures.size() == kMaxRecordedBulkFailures) break;
    job.failures.push_back(failure);
  }
  return Status::success();
}

}  // namespace

const char* to_string(BulkAction action) {
  return name_in(kActionNames, action);
}

std::optional<BulkAction> parse_bulk_action(std::string_view text) {
  return value_in(kActionNames, text);
}

const char* bulk_action_names() {
  return "assign, set_settings, add_to_group, remove_from_group, set_labels or deregister";
}

json bulk_params_to_json(BulkAction action, const BulkParams& params) {
  switch (action) {
    case BulkAction::assign:
      return params.assignment ? assignment_to_json(*params.assignment) : json::object();
    case BulkAction::set_settings: return {{"settings", params.settings}};
    case BulkAction::add_to_group:
    case BulkAction::remove_from_group: return {{"group", params.group}};
    case BulkAction::set_labels: return {{"labels", params.labels}};
    case BulkAction::deregister: return json::object();
    case BulkAction::send_command:
      return {{"type", params.command.type},
              {"params", params.command.params},
              {"priority", to_string(params.command.priority)},
              {"not_before_ms", params.command.not_before_ms},
              {"expires_in_ms", params.command.expires_in_ms}};
  }
  return json::object();
}

Result<BulkParams> bulk_params_from_json(BulkAction action, const json& data) {
  const auto bad = [] { return payload_error("bad bulk job params"); };
  if (!data.is_object()) return bad();
  BulkParams params;
  switch (action) {
    case BulkAction::assign: {
      auto assignment = assignment_from_json(data);
      if (!assignment) return assignment.error();
      if (!assignment->empty()) params.assignment = std::move(*assignment);
      break;
    }
    case BulkAction::set_settings: {
      const auto settings = data.find("settings");
      if (settings == data.end() || !settings->is_object()) return bad();
      params.settings = *settings;
      break;
    }
    case BulkAction::add_to_group:
    case BulkAction::remove_from_group:
      if (!read(data, "group", params.group)) return bad();
      break;
    case BulkAction::set_labels:
      if (!read(data, "labels", params.labels)) return bad();
      break;
    case BulkAction::deregister: break;
    case BulkAction::send_command: {
      std::string priority;
      const auto command_params = data.find("params");
      if (!read(data, "type", params.command.type) || !read(data, "priority", priority) ||
          !read(data, "not_before_ms", params.command.not_before_ms) ||
          !read(data, "expires_in_ms", params.command.expires_in_ms) || command_params == data.end() ||
          !command_params->is_object()) {
        return bad();
      }
      const auto parsed_priority = parse_command_priority(priority);
      if (!parsed_priority) return bad();
      params.command.priority = *parsed_priority;
      params.command.params = *command_params;
      break;
    }
  }
  return params;
}

bool operator==(const BulkFailure& left, const BulkFailure& right) {
  return left.agent_id == right.agent_id && left.code == right.code && left.error == right.error;
}

json BulkJobCreated::to_json() const {
  json ids = json::array();
  for (const AgentId& id : agent_ids) ids.push_back(id.to_string());
  return {{"job_id", job_id},
          {"org", org},
          {"action", muster::to_string(action)},
          {"params", bulk_params_to_json(action, params)},
          {"agent_ids", std::move(ids)},
          {"principal", principal}};
}

Result<BulkJobCreated> BulkJobCreated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  BulkJobCreated event;
  std::vector<std::string> ids;
  if (!read(data, "job_id", event.job_id) || !read(data, "org", event.org) ||
      !read_action(data, event.action, event.params) || !read(data, "agent_ids", ids) ||
      !read(data, "principal", event.principal, payload::Presence::optional)) {
    return payload_error("bad BulkJobCreated payload");
  }
  event.agent_ids.reserve(ids.size());
  for (const std::string& text : ids) {
    const auto id = AgentId::parse(text);
    if (!id) return payload_error("bad BulkJobCreated agent id");
    event.agent_ids.push_back(*id);
  }
  return event;
}

json BulkJobProgressed::to_json() const {
  return {
      {"from", from}, {"count", count}, {"succeeded", succeeded}, {"failures", failures_to_json(failures)}};
}

Result<BulkJobProgressed> BulkJobProgressed::from_json(const json& data, std::uint32_t /*schema_version*/) {
  BulkJobProgressed event;
  if (!read(data, "from", event.from) || !read(data, "count", event.count) ||
      !read(data, "succeeded", event.succeeded) || !read_failures(data, event.failures)) {
    return payload_error("bad BulkJobProgressed payload");
  }
  return event;
}

bool operator==(const BulkJob& left, const BulkJob& right) {
  return left.job_id == right.job_id && left.org == right.org && left.action == right.action &&
         bulk_params_to_json(left.action, left.params) == bulk_params_to_json(right.action, right.params) &&
         left.principal == right.principal && left.total == right.total && left.done == right.done &&
         left.succeeded == right.succeeded && left.failed == right.failed &&
         left.failures == right.failures && left.finished == right.finished &&
         left.created_at_ms == right.created_at_ms && left.finished_at_ms == right.finished_at_ms &&
         left.created_position == right.created_position && left.version == right.version &&
         left.last_position == right.last_position;
}

std::string encode_bulk_job(const BulkJob& job) {
  return json{{"job_id", job.job_id},
              {"org", job.org},
              {"action", to_string(job.action)},
              {"params", bulk_params_to_json(job.action, job.params)},
              {"principal", job.principal},
              {"total", job.total},
              {"done", job.done},
              {"succeeded", job.succeeded},
              {"failed", job.failed},
              {"failures", failures_to_json(job.failures)},
              {"finished", job.finished},
              {"created_at", job.created_at_ms},
              {"finished_at", job.finished_at_ms},
              {"created_position", job.created_position},
              {"version", job.version},
              {"last_position", job.last_position}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<BulkJob> decode_bulk_job(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  BulkJob job;
  const auto finished = data.is_object() ? data.find("finished") : data.end();
  if (!data.is_object() || !read(data, "job_id", job.job_id) || !read(data, "org", job.org) ||
      !read_action(data, job.action, job.params) || !read(data, "principal", job.principal) ||
      !read(data, "total", job.total) || !read(data, "done", job.done) ||
      !read(data, "succeeded", job.succeeded) || !read(data, "failed", job.failed) ||
      !read_failures(data, job.failures) || finished == data.end() || !finished->is_boolean() ||
      !read(data, "created_at", job.created_at_ms) || !read(data, "finished_at", job.finished_at_ms) ||
      !read(data, "created_position", job.created_position) || !read(data, "version", job.version) ||
      !read(data, "last_position", job.last_position)) {
    return payload_error("bad bulk job snapshot");
  }
  job.finished = finished->get<bool>();
  return job;
}

Status apply(BulkJob& job, const BulkJobEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != job.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<BulkJobCreated>(&event)) {
    if (job.exists()) return corrupt_event(header, type, "a job is created once");
    if (stream_id_of(header.stream, kBulkJobKind) != std::optional<std::string_view>(created->job_id)) {
      return corrupt_event(header, type, "job_id differs from the stream id");
    }
    job.job_id = created->job_id;
    job.org = created->org;
    job.action = created->action;
    job.params = created->params;
    job.principal = created->principal;
    job.total = created->agent_ids.size();
    job.created_at_ms = header.time_ms;
    job.created_position = header.position;
  } else if (const auto* progressed = std::get_if<BulkJobProgressed>(&event)) {
    if (Status folded = apply_progress(job, *progressed, header); !folded) return folded;
  } else {
    if (!job.exists() || job.finished)
      return corrupt_event(header, type, "finishing a job never created or finished");
    if (job.done != job.total) return corrupt_event(header, type, "finishing a job with agents not done");
    job.finished = true;
    job.finished_at_ms = header.time_ms;
  }
  job.version = header.version;
  job.last_position = header.position;
  return Status::success();
}

Status apply(BulkJob& job, const Event& event) {
  return apply_stored<BulkJobEvent>(job, event);
}

}  // namespace muster
