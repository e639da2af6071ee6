#include "projections/event_queries.hpp"

#include <algorithm>

#include "actors/agent/agent_decider.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

Result<EventPage> EventQueries::agent_events(std::string_view org_scope, const AgentId& agent_id,
                                             std::uint64_t from_version, std::size_t limit) const {
  const auto agent = registry_.find(agent_id);
  if (!agent || !org_visible(org_scope, *agent->state.org)) {
    return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
  }
  const std::size_t page_size = std::max<std::size_t>(1, limit);
  auto events = store_.read_stream(agent->state.stream(), from_version, page_size);
  if (!events) return events.error();
  EventPage page;
  if (events->size() == page_size) page.next = events->back().version + 1;
  page.events = std::move(*events);
  return page;
}

Result<EventPage> EventQueries::log_events(std::string_view org_scope, std::uint64_t from_position,
                                           std::size_t limit, const std::string& type) const {
  const std::size_t page_size = std::max<std::size_t>(1, limit);
  std::uint64_t next = std::max<std::uint64_t>(1, from_position);
  EventPage page;
  std::size_t scanned = 0;
  bool reached_head = false;
  while (page.events.size() < page_size && scanned < kMaxEventsScanned) {
    const auto batch = store_.read_log(next, type.empty() ? page_size - page.events.size() : 1000);
    if (!batch) return batch.error();
    if (batch->empty()) {
      reached_head = true;
      break;
    }
    for (const Event& event : *batch) {
      next = event.position + 1;
      ++scanned;
      const bool wanted = (type.empty() || event.type == type) && visible(org_scope, event.stream);
      if (wanted) page.events.push_back(event);
      if (page.events.size() == page_size) break;
    }
  }
  if (!reached_head) {
    const auto head = store_.head_position();
    if (!head) return head.error();
    reached_head = next > *head;
  }
  if (!reached_head) page.next = next;
  return page;
}

bool EventQueries::visible(std::string_view org_scope, std::string_view stream) const {
  if (org_scope == kAllOrgs) return true;
  const auto org = organization_of(stream);
  return org && org_visible(org_scope, *org);
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
  if (parsed->kind == kEnrollmentKind) {
    const auto token = access_.enrollment_token(std::string(parsed->id));
    return token ? std::optional<std::string>(token->org) : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace muster
