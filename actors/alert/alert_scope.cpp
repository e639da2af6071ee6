#include "actors/alert/alert_scope.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "actors/config/config_files.hpp"

namespace muster {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxScopeLabels = 64;
constexpr std::size_t kMaxLabelKeyLength = 128;
constexpr std::size_t kMaxLabelValueLength = 256;

bool is_label_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxLabelKeyLength) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '/' || c == '-';
  });
}

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string sub(std::string_view field, const char* member) {
  return fmt::format("{}.{}", field, member);
}

}  // namespace

json AlertScope::to_json() const {
  switch (kind) {
    case Kind::group:
      return {{"group", group}};
    case Kind::labels:
      return {{"labels", labels}};
    case Kind::agents: {
      json ids = json::array();
      for (const AgentId& id : agents) ids.push_back(id.to_string());
      return {{"agents", std::move(ids)}};
    }
    case Kind::all:
      break;
  }
  return json::object();
}

bool operator==(const AlertScope& left, const AlertScope& right) {
  return left.kind == right.kind && left.group == right.group && left.labels == right.labels &&
         left.agents == right.agents;
}

Result<AlertScope> parse_alert_scope(const json& value, std::string_view field) {
  AlertScope scope;
  if (value.is_null()) return scope;
  const std::string shape =
      "must be {} (every agent), {\"group\": name}, {\"labels\": {key: value}} or {\"agents\": [agent ids]}";
  if (!value.is_object() || value.size() > 1) return invalid_field(std::string(field), shape);
  if (value.empty()) return scope;
  const std::string& name = value.begin().key();
  const json& member = value.begin().value();
  if (name == "group") {
    if (!member.is_string() || !is_valid_config_name(member.get_ref<const std::string&>())) {
      return invalid_field(sub(field, "group"), "must be a group name: [a-z0-9][a-z0-9._-]{0,62}");
    }
    scope.kind = AlertScope::Kind::group;
    scope.group = member.get<std::string>();
  } else if (name == "labels") {
    const auto refuse = [&] {
      return invalid_field(sub(field, "labels"),
                           fmt::format("must be an object of 1 to {} labels: keys 1 to {} characters of "
                                       "[A-Za-z0-9._/-], values strings of at most {} characters",
                                       kMaxScopeLabels, kMaxLabelKeyLength, kMaxLabelValueLength));
    };
    if (!member.is_object() || member.empty() || member.size() > kMaxScopeLabels) return refuse();
    for (const auto& [key, label] : member.items()) {
      if (!is_label_key(key) || !label.is_string() ||
          label.get_ref<const std::string&>().size() > kMaxLabelValueLength ||
          has_control_character(label.get_ref<const std::string&>())) {
        return refuse();
      }
      scope.labels.emplace(key, label.get<std::string>());
    }
    scope.kind = AlertScope::Kind::labels;
  } else if (name == "agents") {
    const auto refuse = [&] {
      return invalid_field(sub(field, "agents"),
                           fmt::format("must be an array of 1 to {} agent ids (lowercase UUIDs)", kMaxAlertScopeAgents));
    };
    if (!member.is_array() || member.empty() || member.size() > kMaxAlertScopeAgents) return refuse();
    for (const json& item : member) {
      const auto id = item.is_string() ? AgentId::parse(item.get_ref<const std::string&>()) : std::nullopt;
      if (!id) return refuse();
      scope.agents.push_back(*id);
    }
    std::sort(scope.agents.begin(), scope.agents.end());
    scope.agents.erase(std::unique(scope.agents.begin(), scope.agents.end()), scope.agents.end());
    scope.kind = AlertScope::Kind::agents;
  } else {
    return invalid_field(std::string(field), shape);
  }
  return scope;
}

}  // namespace muster
