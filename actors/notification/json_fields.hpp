#pragma once
/// Internal to actors/notification: reading the members payload::read does
/// not cover (booleans, objects, arrays), never throwing.

#include <nlohmann/json.hpp>

namespace muster::notification_fields {

inline bool read_bool(const nlohmann::json& data, const char* key, bool& out) {
  const auto found = data.find(key);
  if (found == data.end() || !found->is_boolean()) return false;
  out = found->get<bool>();
  return true;
}

/// `out` = the member `key` if it is of JSON type `type`.
inline bool read_json(const nlohmann::json& data, const char* key, nlohmann::json::value_t type,
                      nlohmann::json& out) {
  const auto found = data.find(key);
  if (found == data.end() || found->type() != type) return false;
  out = *found;
  return true;
}

inline std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace muster::notification_fields
