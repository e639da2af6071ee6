#include "actors/config/config_files.hpp"

#include "common/secrets.hpp"

namespace muster {
namespace {

bool is_name_char(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return !first && (c == '.' || c == '_' || c == '-');
}

void append_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

}  // namespace

bool is_valid_config_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxConfigNameLength) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i], i == 0)) return false;
  }
  return true;
}

Status check_config_name(std::string_view name) {
  if (is_valid_config_name(name)) return Status::success();
  return invalid_field("name", kConfigNameRule);
}

bool is_valid_file_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxFileNameLength || name.front() == '/' || name.front() == '.') return false;
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return true;
}

nlohmann::json files_to_json(const ConfigFiles& files) {
  auto out = nlohmann::json::object();
  for (const auto& [name, file] : files) out[name] = {{"content_type", file.content_type}, {"body", file.body}};
  return out;
}

Result<ConfigFiles> files_from_json(const nlohmann::json& files) {
  if (!files.is_object()) return make_error(ErrorCode::corruption, "files is not an object");
  ConfigFiles out;
  for (const auto& [name, file] : files.items()) {
    if (!file.is_object()) return make_error(ErrorCode::corruption, "file '" + name + "' is not an object");
    const auto type = file.find("content_type");
    const auto body = file.find("body");
    if (type == file.end() || !type->is_string() || body == file.end() || !body->is_string()) {
      return make_error(ErrorCode::corruption, "file '" + name + "' lacks content_type or body");
    }
    out.emplace(name, ConfigFile{type->get<std::string>(), body->get<std::string>()});
  }
  return out;
}

std::size_t total_body_bytes(const ConfigFiles& files) {
  std::size_t total = 0;
  for (const auto& [name, file] : files) total += file.body.size();
  return total;
}

std::string hash_files(const ConfigFiles& files) {
  std::string encoding;
  for (const auto& [name, file] : files) {
    append_field(encoding, name);
    append_field(encoding, file.content_type);
    append_field(encoding, file.body);
  }
  return sha256_hex(encoding);
}

}  // namespace muster
