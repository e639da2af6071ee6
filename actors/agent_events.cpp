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

NewEvent registered(const std::string& agent_id, const std::string& instance_id, const AgentProfile& profile,
                    const std::string& meta) {
  nlohmann::json data = profile_to_json(profile);
  data["agent_id"] = agent_id;
  data["instance_id"] = instance_id;
  return make_event(kRegistered, data, meta);
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
