#include "projections/event_queries.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_decider.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

namespace {

constexpr std::string_view kDigestSuffix = "_sha256";
constexpr std::string_view kPasswordHashSuffix = "_argon2id";

bool ends_with(const std::string& name, std::string_view suffix) {
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_digest_name(const std::string& name) {
  return ends_with(name, kDigestSuffix) || ends_with(name, kPasswordHashSuffix);
}

// Removes every member named "*_sha256" or "*_argon2id" from `value`, at any depth; true if one was.
bool erase_digests(nlohmann::json& value) {
  bool erased = false;
  if (value.is_object()) {
    for (auto member = value.begin(); member != value.end();) {
      if (is_digest_name(member.key())) {
        member = value.erase(member);
        erased = true;
      } else {
        erased = erase_digests(member.value()) || erased;
        ++member;
      }
    }
  } else if (value.is_array()) {
    for (auto& element : value) erased = erase_digests(element) || erased;
  }
  return erased;
}

}  // namespace

std::optional<std::string> redact_digests(std::string_view data) {
  // JSON may spell any character of a member name as an escape, so text
  // with a backslash is parsed even when the suffix is not there verbatim.
  if (data.find(kDigestSuffix) == std::string_view::npos &&
      data.find(kPasswordHashSuffix) == std::string_view::npos && data.find('\\') == std::string_view::npos) {
    return std::nullopt;
  }
  auto parsed = nlohmann::json::parse(data, nullptr, false);
  if (parsed.is_discarded() || !erase_digests(parsed)) return std::nullopt;
  return parsed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Event redacted(Event event) {
  if (auto data = redact_digests(event.data)) event.data = std::move(*data);
  return event;
}

bool is_report_of_type(const EventView& event, std::string_view report_type) {
  if (event.type != AgentReported::kType.name) return false;
  const auto report = decode_payload<AgentEvent>(event.type, event.schema_version, event.data);
  return report && std::get<AgentReported>(*report).type == report_type;
}

Result<EventPage> EventQueries::agent_events(const Principal& caller, const AgentId& agent_id,
                                             std::uint64_t from_version, std::size_t limit) const {
  const auto agent = registry_.find(agent_id);
  if (!agent || !org_visible(caller.org, *agent->state.org)) {
    return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
  }
  const std::size_t page_size = std::max<std::size_t>(1, limit);
  auto events = store_.read_stream(agent->state.stream(), from_version, page_size);
  if (!events) return events.error();
  EventPage page;
  if (events->size() == page_size) page.next = events->back().version + 1;
  page.events.reserve(events->size());
  for (Event& event : *events) page.events.push_back(redacted(std::move(event)));
  return page;
}

Result<EventPage> EventQueries::log_events(const Principal& caller, std::uint64_t from_position,
                                           std::size_t limit, const std::string& type,
                                           const std::string& report_type) const {
  LogFilter filter;
  filter.type = type;
  filter.report_type = report_type;
  return log_events(caller, from_position, limit, filter);
}

Result<EventPage> EventQueries::log_events(const Principal& caller, std::uint64_t from_position,
                                           std::size_t limit, const LogFilter& filter) const {
  const std::size_t page_size = std::max<std::size_t>(1, limit);
  // A filter that keeps few events reads larger batches.
  const bool sparse = !filter.type.empty() || !filter.stream.empty();
  std::uint64_t next = std::max<std::uint64_t>(1, from_position);
  EventPage page;
  std::size_t scanned = 0;
  bool reached_head = next > filter.last_position;
  while (!reached_head && page.events.size() < page_size && scanned < kMaxEventsScanned) {
    const auto batch = store_.read_log(next, sparse ? 1000 : page_size - page.events.size());
    if (!batch) return batch.error();
    if (batch->empty()) {
      reached_head = true;
      break;
    }
    for (const Event& event : *batch) {
      if (event.position > filter.last_position) {
        reached_head = true;
        break;
      }
      next = event.position + 1;
      ++scanned;
      if (wanted(caller, event, filter)) page.events.push_back(redacted(event));
      if (page.events.size() == page_size) break;
    }
  }
  if (!reached_head) {
    const auto head = store_.head_position();
    if (!head) return head.error();
    reached_head = next > std::min(*head, filter.last_position);
  }
  if (!reached_head) page.next = next;
  page.resume_at = next;
  return page;
}

bool EventQueries::wanted(const Principal& caller, const Event& event, const LogFilter& filter) const {
  return (filter.type.empty() || event.type == filter.type) &&
         (filter.stream.empty() || event.stream == filter.stream) &&
         (filter.report_type.empty() || is_report_of_type(view_of(event), filter.report_type)) &&
         may_see(caller, event.stream);
}

bool EventQueries::may_see(const Principal& caller, std::string_view stream) const {
  const auto parsed = parse_stream(stream);
  const bool credential_record =
      parsed && (parsed->kind == kApiKeyKind || parsed->kind == kEnrollmentKind || parsed->kind == kUserKind);
  if (credential_record && !role_allows(caller.role, Role::admin)) return false;
  if (caller.org == kAllOrgs) return true;
  return visible_to(caller, organization_of(stream));
}

std::optional<std::string> EventQueries::organization_of(std::string_view stream) const {
  const auto parsed = parse_stream(stream);
  if (!parsed) return std::nullopt;
  if (parsed->kind == kAgentKind) {
    const auto agent_id = AgentId::parse(parsed->id);
    return agent_id ? registry_.org_of(*agent_id) : std::nullopt;
  }
  if (parsed->kind == kApiKeyKind) {
    const auto key = access_.key(std::string(parsed->id));
    return key ? std::optional<std::string>(key->org) : std::nullopt;
  }
  if (parsed->kind == kUserKind) {
    const auto user = access_.user(std::string(parsed->id));
    return user ? std::optional<std::string>(user->org) : std::nullopt;
  }
  if (parsed->kind == kEnrollmentKind) {
    const auto token = access_.enrollment_token(std::string(parsed->id));
    return token ? std::optional<std::string>(token->org) : std::nullopt;
  }
  // Configs, groups, rollouts, commands, alert rules, alerts, channels,
  // windows and notifications name their organization in their id.
  if (const auto scoped = split_org_scoped_id(parsed->id)) return std::string(scoped->org);
  return std::nullopt;
}

}  // namespace muster
