#include "http/opamp/opamp_codec.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <random>

#include <fmt/format.h>
#include <google/protobuf/stubs/logging.h>

#include "actors/agent/agent_id.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"
#include "http/request_parsing.hpp"

namespace muster::http {
namespace {

namespace wire = ::muster::opamp;
using nlohmann::json;

/// The longest error text kept from an agent (as the REST reports keep).
constexpr std::size_t kMaxErrorBytes = 4096;
/// Labels an agent's attributes may add, at most (as a registration's labels).
constexpr std::size_t kMaxAttributeLabels = 64;
constexpr std::size_t kMaxLabelKeyLength = 128;
constexpr std::size_t kMaxTextLength = 256;

// The agent capability bits by name, as operators see them.
constexpr std::pair<std::uint64_t, const char*> kAgentCapabilityNames[] = {
    {wire::AgentCapabilities_ReportsStatus, "ReportsStatus"},
    {wire::AgentCapabilities_AcceptsRemoteConfig, "AcceptsRemoteConfig"},
    {wire::AgentCapabilities_ReportsEffectiveConfig, "ReportsEffectiveConfig"},
    {wire::AgentCapabilities_AcceptsPackages, "AcceptsPackages"},
    {wire::AgentCapabilities_ReportsPackageStatuses, "ReportsPackageStatuses"},
    {wire::AgentCapabilities_ReportsOwnTraces, "ReportsOwnTraces"},
    {wire::AgentCapabilities_ReportsOwnMetrics, "ReportsOwnMetrics"},
    {wire::AgentCapabilities_ReportsOwnLogs, "ReportsOwnLogs"},
    {wire::AgentCapabilities_AcceptsOpAMPConnectionSettings, "AcceptsOpAMPConnectionSettings"},
    {wire::AgentCapabilities_AcceptsOtherConnectionSettings, "AcceptsOtherConnectionSettings"},
    {wire::AgentCapabilities_AcceptsRestartCommand, "AcceptsRestartCommand"},
    {wire::AgentCapabilities_ReportsHealth, "ReportsHealth"},
    {wire::AgentCapabilities_ReportsRemoteConfig, "ReportsRemoteConfig"},
    {wire::AgentCapabilities_ReportsHeartbeat, "ReportsHeartbeat"},
    {wire::AgentCapabilities_ReportsAvailableComponents, "ReportsAvailableComponents"},
    {wire::AgentCapabilities_ReportsConnectionSettingsStatus, "ReportsConnectionSettingsStatus"},
};

// An attribute's value as text, if it is a scalar.
std::optional<std::string> scalar_text(const wire::AnyValue& value) {
  switch (value.value_case()) {
    case wire::AnyValue::kStringValue: return value.string_value();
    case wire::AnyValue::kBoolValue: return value.bool_value() ? "true" : "false";
    case wire::AnyValue::kIntValue: return std::to_string(value.int_value());
    case wire::AnyValue::kDoubleValue: return fmt::format("{}", value.double_value());
    default: return std::nullopt;
  }
}

std::string clip(std::string text, std::size_t max_bytes) {
  if (text.size() > max_bytes) text.resize(max_bytes);
  return text;
}


bool is_label_key(std::string_view key) {
  const auto allowed = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '/' || c == '-';
  };
  return !key.empty() && key.size() <= kMaxLabelKeyLength && std::all_of(key.begin(), key.end(), allowed);
}

json health_json(const wire::ComponentHealth& health, int depth) {
  json out{{"healthy", health.healthy()}};
  if (!health.last_error().empty()) out["last_error"] = clip(health.last_error(), kMaxErrorBytes);
  if (!health.status().empty()) out["status"] = clip(health.status(), kMaxTextLength);
  if (health.start_time_unix_nano() != 0) out["start_time_unix_nano"] = health.start_time_unix_nano();
  // Components nest; a hostile depth stops here.
  if (depth < 4 && !health.component_health_map().empty()) {
    json components = json::object();
    for (const auto& [name, component] : health.component_health_map()) {
      if (components.size() >= 256) break;
      components[clip(name, kMaxTextLength)] = health_json(component, depth + 1);
    }
    out["components"] = std::move(components);
  }
  return out;
}

}  // namespace

std::vector<std::string> capability_names(std::uint64_t capabilities) {
  std::vector<std::string> names;
  for (const auto& [bit, name] : kAgentCapabilityNames) {
    if ((capabilities & bit) != 0) names.emplace_back(name);
  }
  return names;
}

// A new instance_uid: a UUIDv7 (milliseconds since the epoch, then random bits).
std::string new_instance_uid(TimeMs now_ms) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::string uid(kInstanceUidBytes, '\0');
  const std::uint64_t high = generator();
  const std::uint64_t low = generator();
  for (int index = 0; index < 8; ++index) {
    uid[static_cast<std::size_t>(index)] = static_cast<char>(high >> (8 * index));
    uid[static_cast<std::size_t>(8 + index)] = static_cast<char>(low >> (8 * index));
  }
  const auto millis = static_cast<std::uint64_t>(now_ms);
  for (int index = 0; index < 6; ++index) {
    uid[static_cast<std::size_t>(index)] = static_cast<char>(millis >> (8 * (5 - index)));
  }
  uid[6] = static_cast<char>(0x70 | (uid[6] & 0x0f));
  uid[8] = static_cast<char>(0x80 | (uid[8] & 0x3f));
  return uid;
}

std::string uuid_text(std::string_view uid) {
  std::array<std::uint8_t, 16> bytes{};
  std::copy_n(uid.begin(), std::min(uid.size(), bytes.size()), bytes.begin());
  return AgentId::from_bytes(bytes).to_string();
}

Registration registration_of(const wire::AgentDescription& description, std::string_view uid) {
  Registration registration;
  std::map<std::string, std::string> labels;
  const auto take = [&](const wire::KeyValue& attribute, bool identifying) {
    const auto text = scalar_text(attribute.value());
    if (!text) return;
    const std::string& key = attribute.key();
    if (key == "service.instance.id" && identifying) {
      registration.instance_id = clip(*text, 128);
    } else if (key == "service.name") {
      registration.type = clip(*text, kMaxTextLength);
    } else if (key == "service.version") {
      registration.version = clip(*text, kMaxTextLength);
    } else if (key == "host.name") {
      registration.hostname = clip(*text, kMaxTextLength);
    } else if (!identifying && labels.size() < kMaxAttributeLabels) {
      std::string label = std::string(kAttributeLabelPrefix) + key;
      if (is_label_key(label) && text->size() <= kMaxTextLength && !has_control_character(*text)) {
        labels.emplace(std::move(label), *text);
      }
    }
  };
  for (const auto& attribute : description.identifying_attributes()) take(attribute, true);
  for (const auto& attribute : description.non_identifying_attributes()) take(attribute, false);
  if (registration.instance_id.empty() || !is_valid_instance_id(registration.instance_id)) {
    registration.instance_id = uuid_text(uid);
  }
  if (registration.hostname && has_control_character(*registration.hostname)) registration.hostname.reset();
  if (registration.type && has_control_character(*registration.type)) registration.type.reset();
  if (registration.version && has_control_character(*registration.version)) registration.version.reset();
  if (!labels.empty()) registration.labels = std::move(labels);
  return registration;
}

std::optional<std::string> description_version(const wire::AgentDescription& description) {
  for (const auto* attributes : {&description.identifying_attributes(), &description.non_identifying_attributes()}) {
    for (const auto& attribute : *attributes) {
      if (attribute.key() != "service.version") continue;
      auto text = scalar_text(attribute.value());
      if (text && !has_control_character(*text)) return clip(std::move(*text), kMaxTextLength);
    }
  }
  return std::nullopt;
}

std::optional<ConfigFiles> files_of(const wire::AgentConfigMap& map, std::size_t max_bytes) {
  ConfigFiles files;
  std::size_t total = 0;
  if (static_cast<std::size_t>(map.config_map_size()) > kMaxConfigFiles) return std::nullopt;
  for (const auto& [name, file] : map.config_map()) {
    if (!is_valid_file_name(name) || file.content_type().size() > kMaxContentTypeLength) return std::nullopt;
    total += file.body().size();
    if (total > max_bytes) return std::nullopt;
    files.emplace(name, ConfigFile{file.content_type(), file.body()});
  }
  return files;
}

std::optional<ConfigReportStatus> report_status_of(int status) {
  switch (status) {
    case wire::RemoteConfigStatuses_APPLYING: return ConfigReportStatus::applying;
    case wire::RemoteConfigStatuses_APPLIED: return ConfigReportStatus::applied;
    case wire::RemoteConfigStatuses_FAILED: return ConfigReportStatus::failed;
    default: return std::nullopt;
  }
}

json health_to_json(const wire::ComponentHealth& health) {
  return health_json(health, 0);
}

std::string hash_hex_of(std::string_view bytes) {
  Sha256 digest{};
  if (bytes.size() != digest.size()) return std::string();
  std::copy(bytes.begin(), bytes.end(), digest.begin());
  return to_hex(digest);
}

std::string agent_error_text(std::string_view text) {
  return clip(std::string(text), kMaxErrorBytes);
}

void route_protobuf_logs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string& message) {
    log::write(log::Level::debug, "protobuf", {{"message", message}});
  });
}

}  // namespace muster::http
