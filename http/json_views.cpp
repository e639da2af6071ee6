#include "http/json_views.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/time_format.hpp"
#include "http/request_parsing.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

json embedded_json(std::string_view text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(std::string(text)) : parsed;
}

// True when `text` is a string JSON needs no escapes for: copied as is.
bool plain_json_string(std::string_view text) {
  for (const unsigned char c : text) {
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) return false;
  }
  return true;
}

void append_number(std::string& out, std::uint64_t number) {
  const fmt::format_int digits(number);
  out.append(digits.data(), digits.size());
}

void append_json_string(std::string& out, std::string_view text) {
  if (plain_json_string(text)) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

// What muster stores as data and meta is the dump of a JSON object: '{' to
// '}' with no raw control characters. Anything else (a foreign or damaged
// record) goes through the parser, as in event_to_json.
void append_embedded_json(std::string& out, std::string_view text) {
  const bool stored_object = text.size() >= 2 && text.front() == '{' && text.back() == '}' &&
                             std::none_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20; });
  if (stored_object) {
    out += text;
  } else {
    out += embedded_json(text).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

}  // namespace

void append_event_jsonl(std::string& out, const EventView& event) {
  // Events come in time order: format each second once.
  thread_local TimeMs cached_second = -1;
  thread_local std::string cached_time;
  const TimeMs second = event.time_ms - ((event.time_ms % 1000) + 1000) % 1000;
  if (second != cached_second) {
    cached_second = second;
    cached_time = format_rfc3339(second);
  }
  const auto millis = static_cast<unsigned>(event.time_ms - second);
  out += R"({"data":)";
  append_embedded_json(out, event.data);
  out += R"(,"meta":)";
  append_embedded_json(out, event.meta);
  out += R"(,"position":)";
  append_number(out, event.position);
  out += R"(,"schema_version":)";
  append_number(out, event.schema_version);
  out += R"(,"stream":)";
  append_json_string(out, event.stream);
  out += R"(,"time":")";
  out.append(cached_time, 0, cached_time.size() - 4);  // without "000Z"
  const char digits[] = {static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                         static_cast<char>('0' + millis % 10), 'Z', '"'};
  out.append(digits, sizeof digits);
  out += R"(,"type":)";
  append_json_string(out, event.type);
  out += R"(,"version":)";
  append_number(out, event.version);
  out += '}';
  out += '\n';
}

json event_to_json(const Event& event) {
  return {{"position", event.position},
          {"stream", event.stream},
          {"version", event.version},
          {"type", event.type},
          {"time", format_rfc3339(event.time_ms)},
          {"schema_version", event.schema_version},
          {"data", embedded_json(event.data)},
          {"meta", embedded_json(event.meta)}};
}

void append_agent_json(std::string& out, const AgentView& agent, TimeMs now_ms,
                       const HealthThresholds& thresholds, bool with_health) {
  const AgentState& state = agent.state;
  const AgentProfile& profile = state.profile;
  const auto key = [&out](const char* name) {
    out += out.back() == '{' ? "\"" : ",\"";
    out += name;
    out += "\":";
  };
  const auto text = [&](const char* name, std::string_view value) {
    key(name);
    append_json_string(out, value);
  };
  const auto number = [&](const char* name, std::uint64_t value) {
    key(name);
    append_number(out, value);
  };
  const auto time = [&](const char* name, TimeMs value) { text(name, format_rfc3339(value)); };
  out += '{';
  text("agent_id", state.agent_id.to_string());
  key("capabilities");
  out += '[';
  for (const std::string& capability : *profile.capabilities) {
    if (out.back() != '[') out += ',';
    append_json_string(out, capability);
  }
  out += ']';
  text("config_hash", agent.config_hash);
  text("config_status", agent.config_status);
  number("config_version", agent.config_version);
  if (with_health) {
    const AgentHealth health = assess_health(state, agent.last_seen_ms, now_ms, thresholds);
    key("health");
    out += '{';
    text("health", health.health);
    number("health_score", static_cast<std::uint64_t>(health.score));
    time("last_seen", agent.last_seen_ms);
    // Metrics are doubles: printed by nlohmann, as everywhere else.
    key("metrics");
    out += json(agent.metrics).dump(-1, ' ', false, json::error_handler_t::replace);
    number("seconds_since_last_seen", static_cast<std::uint64_t>(health.silent_ms / 1000));
    number("uptime_seconds", static_cast<std::uint64_t>(health.uptime_ms / 1000));
    out += '}';
  }
  text("hostname", profile.hostname);
  text("instance_id", state.instance_id);
  text("ip_address", profile.ip_address);
  key("labels");
  out += '{';
  for (const auto& [name, value] : *profile.labels) {
    if (out.back() != '{') out += ',';
    append_json_string(out, name);
    out += ':';
    append_json_string(out, value);
  }
  out += '}';
  time("last_seen", agent.last_seen_ms);
  text("name", profile.name);
  text("org", *state.org);
  number("position", state.last_position);
  time("registered_at", state.registered_at_ms);
  text("status", to_string(state.status));
  if (state.status == AgentStatus::offline) text("status_reason", to_string(state.offline_reason));
  time("status_since", state.status_since_ms);
  number("stream_version", state.version);
  text("type", *profile.type);
  time("updated_at", state.updated_at_ms);
  text("version", *profile.version);
  out += '}';
}

json config_status_counts_to_json(const ConfigStatusCounts& counts) {
  json out = json::object();
  for (std::size_t index = 0; index < kConfigStatusCount; ++index) {
    out[to_string(static_cast<ConfigStatus>(index))] = counts[index];
  }
  return out;
}

void fill_config(AgentView& agent, const ConfigModel& model) {
  const DesiredSummary desired = model.desired_of(agent.state.agent_id);
  agent.config_version = desired.config_version;
  agent.config_hash = desired.desired ? desired.desired->hash : std::string();
  agent.config_status = to_string(model.config_status_of(agent.state.agent_id));
}

std::string agent_page_json(const AgentPage& page, TimeMs now_ms, const HealthThresholds& thresholds) {
  std::string body = R"({"agents":[)";
  body.reserve(page.agents.size() * 512);
  for (const AgentView& agent : page.agents) {
    if (body.back() != '[') body += ',';
    append_agent_json(body, agent, now_ms, thresholds, false);
  }
  body += R"(],"next_cursor":)";
  body += page.next_after ? json(encode_cursor(*page.next_after)).dump() : "null";
  body += fmt::format(R"(,"total":{}}})", page.total);
  return body;
}

json config_version_to_json(const ConfigVersion& version) {
  json out{{"version", version.number},
           {"hash", version.hash},
           {"message", version.message},
           {"author", version.author},
           {"created_at", format_rfc3339(version.created_at_ms)}};
  if (version.rolled_back_from != 0) out["rolled_back_from"] = version.rolled_back_from;
  return out;
}

json group_to_json(const Group& group, bool with_members) {
  json out = {{"org", group.org},
              {"name", group.name},
              {"selector", group.selector},
              {"priority", group.priority},
              {"description", group.description},
              {"member_count", group.members.size()},
              {"assignment", group.assignment ? assignment_to_json(*group.assignment) : json(nullptr)},
              {"created_at", format_rfc3339(group.created_at_ms)},
              {"updated_at", format_rfc3339(group.updated_at_ms)}};
  if (with_members) {
    json members = json::array();
    for (const AgentId& id : group.members) members.push_back(id.to_string());
    out["members"] = std::move(members);
  }
  return out;
}

json api_key_to_json(const ApiKey& key) {
  return {{"id", key.key_id},
          {"name", key.name},
          {"role", to_string(key.role)},
          {"org", key.org},
          {"created_at", format_rfc3339(key.created_at_ms)},
          {"revoked", key.revoked}};
}

json user_to_json(const User& user, TimeMs now_ms) {
  const auto live = std::count_if(user.sessions.begin(), user.sessions.end(),
                                  [now_ms](const auto& session) { return session.second.last_expiry_ms() > now_ms; });
  return {{"username", user.username},
          {"role", to_string(user.role)},
          {"org", user.org},
          {"created_at", format_rfc3339(user.created_at_ms)},
          {"password_set_at", format_rfc3339(user.password_set_at_ms)},
          {"sessions", live}};
}

json enrollment_token_to_json(const EnrollmentToken& token, TimeMs now_ms) {
  return {{"id", token.token_id},
          {"name", token.name},
          {"org", token.org},
          {"labels", token.labels},
          {"created_at", format_rfc3339(token.created_at_ms)},
          {"expires_at", format_rfc3339(token.expires_at_ms)},
          {"max_uses", token.max_uses ? json(*token.max_uses) : json(nullptr)},
          {"uses", token.total_uses()},
          {"revoked", token.revoked},
          {"expired", now_ms >= token.expires_at_ms}};
}

json stats_to_json(const FleetStats& stats, std::uint64_t log_position) {
  return {{"total", stats.total},
          {"by_status", {{"ONLINE", stats.online}, {"DEGRADED", stats.degraded}, {"OFFLINE", stats.offline}}},
          {"by_version", stats.by_version},
          {"by_type", stats.by_type},
          {"log_position", log_position},
          {"projection_position", stats.position}};
}

json error_body(const std::string& message, const std::string& code, const json& details) {
  json body = {{"error", message}, {"code", code}};
  if (!details.is_null() && !details.empty()) body["details"] = details;
  return body;
}

json bulk_job_to_json(const BulkJob& job, bool with_failures) {
  json answer = {{"job_id", job.job_id},
                 {"org", job.org},
                 {"action", to_string(job.action)},
                 {"params", bulk_params_to_json(job.action, job.params)},
                 {"state", job.finished ? "finished" : "running"},
                 {"total", job.total},
                 {"done", job.done},
                 {"succeeded", job.succeeded},
                 {"failed", job.failed},
                 {"created_at", format_rfc3339(job.created_at_ms)},
                 {"finished_at", job.finished ? json(format_rfc3339(job.finished_at_ms)) : json(nullptr)},
                 {"created_by", job.principal},
                 {"position", job.last_position}};
  if (with_failures) {
    json failures = json::array();
    for (const BulkFailure& failure : job.failures) {
      failures.push_back(
          {{"agent_id", failure.agent_id.to_string()}, {"code", failure.code}, {"error", failure.error}});
    }
    answer["failures"] = std::move(failures);
  }
  return answer;
}

nlohmann::json delivery_to_json(const NotificationRecord& record) {
  const NotificationQueued& queued = record.queued;
  json attempts = json::array();
  for (const NotificationAttempt& attempt : record.recent_attempts) {
    json item = {{"attempt", attempt.attempt}, {"at", format_rfc3339(attempt.at_ms)}, {"ok", attempt.ok}};
    if (attempt.http_status != 0) item["http_status"] = attempt.http_status;
    if (!attempt.error.empty()) item["error"] = attempt.error;
    attempts.push_back(std::move(item));
  }
  json alerts = json::array();
  for (const NotifiedAlert& alert : queued.alerts) {
    alerts.push_back({{"alert_id", alert.alert_id}, {"episode", alert.episode}});
  }
  json out = {{"notification_id", queued.notification_id},
              {"kind", to_string(queued.kind)},
              {"channel_id", queued.channel_id.empty() ? json(nullptr) : json(queued.channel_id)},
              {"rule_id", queued.rule_id},
              {"state", to_string(record.state)},
              {"queued_at", format_rfc3339(record.queued_at_ms)},
              {"attempts", record.attempts},
              {"recent_attempts", std::move(attempts)},
              {"alerts", std::move(alerts)}};
  if (queued.kind == NotificationKind::escalation) out["step"] = queued.step;
  if (record.state == NotificationState::pending && record.next_attempt_at_ms > 0) {
    out["next_attempt_at"] = format_rfc3339(record.next_attempt_at_ms);
  }
  if (record.finished_at_ms > 0) out["finished_at"] = format_rfc3339(record.finished_at_ms);
  if (record.state == NotificationState::abandoned) out["reason"] = record.abandon_reason;
  if (queued.suppressed) {
    out["suppressed"] = {{"reason", queued.suppressed->reason}, {"windows", queued.suppressed->windows}};
  }
  return out;
}

}  // namespace muster::http
