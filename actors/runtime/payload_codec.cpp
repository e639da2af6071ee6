#include "actors/runtime/payload_codec.hpp"

namespace muster::payload {
namespace {

using nlohmann::json;

// The member, or null when absent.
const json* member(const json& data, const char* key) {
  const auto found = data.find(key);
  return found == data.end() ? nullptr : &*found;
}

}  // namespace

bool read(const json& data, const char* key, std::string& out, Presence presence) {
  const json* value = member(data, key);
  if (value == nullptr) return presence == Presence::optional;
  if (!value->is_string()) return false;
  out = value->get_ref<const std::string&>();
  return true;
}

bool read(const json& data, const char* key, std::vector<std::string>& out, Presence presence) {
  const json* value = member(data, key);
  if (value == nullptr) return presence == Presence::optional;
  if (!value->is_array()) return false;
  std::vector<std::string> items;
  items.reserve(value->size());
  for (const auto& item : *value) {
    if (!item.is_string()) return false;
    items.push_back(item.get_ref<const std::string&>());
  }
  out = std::move(items);
  return true;
}

bool read(const json& data, const char* key, std::map<std::string, std::string>& out, Presence presence) {
  const json* value = member(data, key);
  if (value == nullptr) return presence == Presence::optional;
  if (!value->is_object()) return false;
  std::map<std::string, std::string> items;
  for (const auto& [name, item] : value->items()) {
    if (!item.is_string()) return false;
    items.emplace(name, item.get_ref<const std::string&>());
  }
  out = std::move(items);
  return true;
}

bool read(const json& data, const char* key, std::uint64_t& out, Presence presence) {
  const json* value = member(data, key);
  if (value == nullptr) return presence == Presence::optional;
  if (!value->is_number_integer()) return false;
  if (!value->is_number_unsigned() && value->get<std::int64_t>() < 0) return false;
  out = value->get<std::uint64_t>();
  return true;
}

bool read(const json& data, const char* key, std::int64_t& out, Presence presence) {
  const json* value = member(data, key);
  if (value == nullptr) return presence == Presence::optional;
  if (!value->is_number_integer()) return false;
  // A huge unsigned value would wrap: clamp it instead.
  out = value->is_number_unsigned() && value->get<std::uint64_t>() > INT64_MAX ? INT64_MAX
                                                                                : value->get<std::int64_t>();
  return true;
}

bool read(const json& data, const char* key, std::optional<std::string>& out) {
  std::string value;
  if (member(data, key) == nullptr) return true;
  if (!read(data, key, value)) return false;
  out = std::move(value);
  return true;
}

bool read(const json& data, const char* key, std::optional<std::uint64_t>& out) {
  std::uint64_t value = 0;
  if (member(data, key) == nullptr) return true;
  if (!read(data, key, value)) return false;
  out = value;
  return true;
}

bool read(const json& data, const char* key, std::optional<std::int64_t>& out) {
  std::int64_t value = 0;
  if (member(data, key) == nullptr) return true;
  if (!read(data, key, value)) return false;
  out = value;
  return true;
}

}  // namespace muster::payload
