#include "actors/agent_events.hpp"

#include <nlohmann/json.hpp>

namespace muster::agent_events {
namespace {

NewEvent make_event(const char* type, const nlohmann::json& data, const std::string& meta) {
  return NewEvent{type, data.dump(), meta, 1};
}

}  // namespace

nlohmann::json profile_to_json(const AgentProfile& profile) {
  return {
      {"name", profile.name},       {"hostname", profile.hostname}, {"ip_address", profile.ip_address},
      {"version", profile.version}, {"type", profile.type},         {"capabilities", profile.capabilities},
      {"labels", profile.labels}};
}

NewEvent registered(const std::string& agent_id, const std::string& instance_id, const std::string& org,
                    const AgentProfile& profile, const std::string& meta) {
  nlohmann::json data = profile_to_json(profile);
  data["agent_id"] = agent_id;
  data["instance_id"] = instance_id;
  data["org"] = org;
  return make_event(kRegistered, data, meta);
}

NewEvent token_issued_at_registration(const std::string& token_sha256, const std::string& enrollment_token_id,
                                      const std::string& meta) {
  return make_event(kTokenIssued,
                    {{"token_sha256", token_sha256}, {"enrollment_token_id", enrollment_token_id}}, meta);
}

NewEvent token_rotated(const std::string& token_sha256, TimeMs previous_valid_until_ms,
                       const std::string& meta) {
  return make_event(kTokenIssued,
                    {{"token_sha256", token_sha256}, {"previous_valid_until", previous_valid_until_ms}},
                    meta);
}

std::optional<std::string> enrollment_token_of(const Event& event) {
  if (event.type != kTokenIssued) return std::nullopt;
  const auto data = nlohmann::json::parse(event.data, nullptr, false);
  const auto found = data.is_object() ? data.find("enrollment_token_id") : data.end();
  if (found == data.end() || !found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

NewEvent updated(const nlohmann::json& changes, const std::string& meta) {
  return make_event(kUpdated, {{"changes", changes}}, meta);
}

NewEvent status_changed(AgentStatus from, AgentStatus to, const std::string& meta) {
  return make_event(kStatusChanged, {{"from", to_string(from)}, {"to", to_string(to)}}, meta);
}

NewEvent went_offline(TimeMs last_seen_ms, TimeMs timeout_ms, const std::string& meta) {
  return make_event(kWentOffline, {{"last_seen", last_seen_ms}, {"timeout_ms", timeout_ms}}, meta);
}

NewEvent came_online(AgentStatus status, const std::string& meta) {
  return make_event(kCameOnline, {{"status", to_string(status)}}, meta);
}

NewEvent deregistered(const std::string& meta) {
  return make_event(kDeregistered, nlohmann::json::object(), meta);
}

NewEvent decommissioned(const std::string& meta) {
  return make_event(kDecommissioned, nlohmann::json::object(), meta);
}

}  // namespace muster::agent_events
