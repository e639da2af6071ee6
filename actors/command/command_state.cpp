#include "actors/command/command_state.hpp"

#include <utility>

#include "actors/runtime/stream_id.hpp"
#include "common/enum_names.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

constexpr std::pair<CommandState, const char*> kStateNames[] = {
    {CommandState::queued, "queued"},       {CommandState::delivered, "delivered"},
    {CommandState::acknowledged, "acknowledged"}, {CommandState::succeeded, "succeeded"},
    {CommandState::failed, "failed"},       {CommandState::expired, "expired"},
    {CommandState::cancelled, "cancelled"},
};

bool read_priority(const json& data, CommandPriority& out) {
  std::string text;
  if (!read(data, "priority", text)) return false;
  const auto parsed = parse_command_priority(text);
  if (parsed) out = *parsed;
  return parsed.has_value();
}

bool read_agent_id(const json& data, AgentId& out) {
  std::string text;
  if (!read(data, "agent_id", text)) return false;
  const auto parsed = AgentId::parse(text);
  if (parsed) out = *parsed;
  return parsed.has_value();
}

bool read_object(const json& data, const char* key, json& out) {
  const auto found = data.find(key);
  if (found == data.end() || !found->is_object()) return false;
  out = *found;
  return true;
}

bool read_bool(const json& data, const char* key, bool& out) {
  const auto found = data.find(key);
  if (found == data.end() || !found->is_boolean()) return false;
  out = found->get<bool>();
  return true;
}

// Without exit_code when the agent gave none.
json result_to_json(const CommandResult& result) {
  json out = {{"status", result.succeeded ? "succeeded" : "failed"},
              {"output", result.output},
              {"output_truncated", result.output_truncated}};
  if (result.exit_code) out["exit_code"] = *result.exit_code;
  return out;
}

bool read_result(const json& data, CommandResult& out) {
  std::string status;
  if (!read(data, "status", status) || (status != "succeeded" && status != "failed") ||
      !read(data, "exit_code", out.exit_code) || !read(data, "output", out.output) ||
      !read_bool(data, "output_truncated", out.output_truncated)) {
    return false;
  }
  out.succeeded = status == "succeeded";
  return true;
}

bool read_expiry_reason(const json& data, ExpiryReason& out) {
  std::string text;
  if (!read(data, "reason", text)) return false;
  if (text == "not_delivered") {
    out = ExpiryReason::not_delivered;
  } else if (text == "not_finished") {
    out = ExpiryReason::not_finished;
  } else {
    return false;
  }
  return true;
}

// Moves `record` to `state` at `time_ms`, stamping the final time when it is final.
void enter(CommandRecord& record, CommandState state, TimeMs time_ms) {
  record.state = state;
  if (is_final(state)) record.finished_at_ms = time_ms;
}

Status apply_change(CommandRecord& record, const CommandEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (!record.exists()) return corrupt_event(header, type, "a change to a command never queued");
  if (is_final(record.state)) return corrupt_event(header, type, "a change to a finished command");
  if (std::holds_alternative<CommandDelivered>(event)) {
    if (record.state != CommandState::queued && record.state != CommandState::delivered) {
      return corrupt_event(header, type, "delivered after its acknowledgement");
    }
    record.state = CommandState::delivered;
    record.delivered_at_ms = header.time_ms;
    ++record.deliveries;
  } else if (std::holds_alternative<CommandAcknowledged>(event)) {
    if (record.state != CommandState::delivered) return corrupt_event(header, type, "acknowledged undelivered");
    record.state = CommandState::acknowledged;
    record.acknowledged_at_ms = header.time_ms;
  } else if (const auto* completed = std::get_if<CommandCompleted>(&event)) {
    if (record.state == CommandState::queued) return corrupt_event(header, type, "completed undelivered");
    record.result = completed->result;
    enter(record, completed->result.succeeded ? CommandState::succeeded : CommandState::failed, header.time_ms);
  } else if (const auto* expired = std::get_if<CommandExpired>(&event)) {
    record.expiry_reason = expired->reason;
    enter(record, CommandState::expired, header.time_ms);
  } else {
    enter(record, CommandState::cancelled, header.time_ms);
  }
  return Status::success();
}

}  // namespace

const char* to_string(CommandPriority priority) {
  return priority == CommandPriority::emergency ? "emergency" : "normal";
}

std::optional<CommandPriority> parse_command_priority(std::string_view text) {
  if (text == "normal") return CommandPriority::normal;
  if (text == "emergency") return CommandPriority::emergency;
  return std::nullopt;
}

const char* to_string(CommandState state) {
  return name_in(kStateNames, state);
}

std::optional<CommandState> parse_command_state(std::string_view text) {
  return value_in(kStateNames, text);
}

bool is_final(CommandState state) {
  return state == CommandState::succeeded || state == CommandState::failed || state == CommandState::expired ||
         state == CommandState::cancelled;
}

const char* to_string(ExpiryReason reason) {
  return reason == ExpiryReason::not_finished ? "not_finished" : "not_delivered";
}

bool operator==(const CommandResult& left, const CommandResult& right) {
  return left.succeeded == right.succeeded && left.exit_code == right.exit_code && left.output == right.output &&
         left.output_truncated == right.output_truncated;
}

CommandResult make_command_result(bool succeeded, std::optional<std::int64_t> exit_code, std::string output) {
  CommandResult result;
  result.succeeded = succeeded;
  result.exit_code = exit_code;
  if (output.size() > kMaxCommandOutputBytes) {
    std::size_t cut = kMaxCommandOutputBytes;
    // Never end inside a UTF-8 character: back up over continuation bytes.
    while (cut > 0 && (static_cast<unsigned char>(output[cut]) & 0xC0) == 0x80) --cut;
    output.resize(cut);
    result.output_truncated = true;
  }
  result.output = std::move(output);
  return result;
}

json CommandQueued::to_json() const {
  return {{"command_id", command_id},
          {"org", org},
          {"agent_id", agent_id.to_string()},
          {"type", type},
          {"params", params},
          {"priority", muster::to_string(priority)},
          {"not_before", not_before_ms},
          {"expires_at", expires_at_ms},
          {"idempotency_key", idempotency_key},
          {"batch_id", batch_id},
          {"principal", principal}};
}

Result<CommandQueued> CommandQueued::from_json(const json& data, std::uint32_t /*schema_version*/) {
  CommandQueued event;
  if (!read(data, "command_id", event.command_id) || !read(data, "org", event.org) ||
      !read_agent_id(data, event.agent_id) || !read(data, "type", event.type) ||
      !read_object(data, "params", event.params) || !read_priority(data, event.priority) ||
      !read(data, "not_before", event.not_before_ms) || !read(data, "expires_at", event.expires_at_ms) ||
      !read(data, "idempotency_key", event.idempotency_key) || !read(data, "batch_id", event.batch_id) ||
      !read(data, "principal", event.principal)) {
    return payload_error("bad CommandQueued payload");
  }
  return event;
}

json CommandCompleted::to_json() const {
  return result_to_json(result);
}

Result<CommandCompleted> CommandCompleted::from_json(const json& data, std::uint32_t /*schema_version*/) {
  CommandCompleted event;
  if (!read_result(data, event.result)) return payload_error("bad CommandCompleted payload");
  return event;
}

json CommandExpired::to_json() const {
  return {{"reason", muster::to_string(reason)}};
}

Result<CommandExpired> CommandExpired::from_json(const json& data, std::uint32_t /*schema_version*/) {
  CommandExpired event;
  if (!read_expiry_reason(data, event.reason)) return payload_error("bad CommandExpired payload");
  return event;
}

bool operator==(const CommandRecord& left, const CommandRecord& right) {
  return left.command_id == right.command_id && left.org == right.org && left.agent_id == right.agent_id &&
         left.type == right.type && left.params == right.params && left.priority == right.priority &&
         left.not_before_ms == right.not_before_ms && left.expires_at_ms == right.expires_at_ms &&
         left.idempotency_key == right.idempotency_key && left.batch_id == right.batch_id &&
         left.principal == right.principal && left.state == right.state &&
         left.created_at_ms == right.created_at_ms && left.delivered_at_ms == right.delivered_at_ms &&
         left.acknowledged_at_ms == right.acknowledged_at_ms && left.finished_at_ms == right.finished_at_ms &&
         left.deliveries == right.deliveries && left.result == right.result &&
         left.expiry_reason == right.expiry_reason && left.created_position == right.created_position &&
         left.version == right.version && left.last_position == right.last_position;
}

std::string command_instance_id(std::string_view org, std::string_view command_id) {
  return org_scoped_id(org, command_id);
}

std::string command_stream(std::string_view org, std::string_view command_id) {
  return stream_name(kCommandKind, command_instance_id(org, command_id));
}

void compact(CommandRecord& record) {
  record.params = json::object();
  if (record.result) std::string().swap(record.result->output);
}

std::string encode_command(const CommandRecord& record) {
  return json{{"command_id", record.command_id},
              {"org", record.org},
              {"agent_id", record.agent_id.to_string()},
              {"type", record.type},
              {"params", record.params},
              {"priority", to_string(record.priority)},
              {"not_before", record.not_before_ms},
              {"expires_at", record.expires_at_ms},
              {"idempotency_key", record.idempotency_key},
              {"batch_id", record.batch_id},
              {"principal", record.principal},
              {"state", to_string(record.state)},
              {"created_at", record.created_at_ms},
              {"delivered_at", record.delivered_at_ms},
              {"acknowledged_at", record.acknowledged_at_ms},
              {"finished_at", record.finished_at_ms},
              {"deliveries", record.deliveries},
              {"result", record.result ? result_to_json(*record.result) : json(nullptr)},
              {"reason", record.expiry_reason ? json(to_string(*record.expiry_reason)) : json(nullptr)},
              {"created_position", record.created_position},
              {"version", record.version},
              {"last_position", record.last_position}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<CommandRecord> decode_command(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  const auto bad = [] { return payload_error("bad command snapshot"); };
  if (!data.is_object()) return bad();
  CommandRecord record;
  std::string state;
  std::uint64_t deliveries = 0;
  if (!read(data, "command_id", record.command_id) || !read(data, "org", record.org) ||
      !read_agent_id(data, record.agent_id) || !read(data, "type", record.type) ||
      !read_object(data, "params", record.params) || !read_priority(data, record.priority) ||
      !read(data, "not_before", record.not_before_ms) || !read(data, "expires_at", record.expires_at_ms) ||
      !read(data, "idempotency_key", record.idempotency_key) || !read(data, "batch_id", record.batch_id) ||
      !read(data, "principal", record.principal) || !read(data, "state", state) ||
      !read(data, "created_at", record.created_at_ms) || !read(data, "delivered_at", record.delivered_at_ms) ||
      !read(data, "acknowledged_at", record.acknowledged_at_ms) ||
      !read(data, "finished_at", record.finished_at_ms) || !read(data, "deliveries", deliveries) ||
      !read(data, "created_position", record.created_position) || !read(data, "version", record.version) ||
      !read(data, "last_position", record.last_position)) {
    return bad();
  }
  const auto parsed_state = parse_command_state(state);
  if (!parsed_state) return bad();
  record.state = *parsed_state;
  record.deliveries = static_cast<std::uint32_t>(deliveries);
  if (const auto result = data.find("result"); result != data.end() && !result->is_null()) {
    CommandResult read_back;
    if (!result->is_object() || !read_result(*result, read_back)) return bad();
    record.result = std::move(read_back);
  }
  if (const auto reason = data.find("reason"); reason != data.end() && !reason->is_null()) {
    ExpiryReason read_back = ExpiryReason::not_delivered;
    if (!read_expiry_reason(data, read_back)) return bad();
    record.expiry_reason = read_back;
  }
  return record;
}

Status apply(CommandRecord& record, const CommandEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != record.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* queued = std::get_if<CommandQueued>(&event)) {
    if (record.exists()) return corrupt_event(header, type, "a command is queued once");
    if (stream_id_of(header.stream, kCommandKind) !=
        std::optional<std::string_view>(command_instance_id(queued->org, queued->command_id))) {
      return corrupt_event(header, type, "org/command_id differs from the stream id");
    }
    record.command_id = queued->command_id;
    record.org = queued->org;
    record.agent_id = queued->agent_id;
    record.type = queued->type;
    record.params = queued->params;
    record.priority = queued->priority;
    record.not_before_ms = queued->not_before_ms;
    record.expires_at_ms = queued->expires_at_ms;
    record.idempotency_key = queued->idempotency_key;
    record.batch_id = queued->batch_id;
    record.principal = queued->principal;
    record.state = CommandState::queued;
    record.created_at_ms = header.time_ms;
    record.created_position = header.position;
  } else if (Status changed = apply_change(record, event, header); !changed) {
    return changed;
  }
  record.version = header.version;
  record.last_position = header.position;
  return Status::success();
}

Status apply(CommandRecord& record, const Event& event) {
  return apply_stored<CommandEvent>(record, event);
}

}  // namespace muster
