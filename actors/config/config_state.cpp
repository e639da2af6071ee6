#include "actors/config/config_state.hpp"

#include "actors/runtime/stream_id.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

}  // namespace

const char* to_string(ConfigKind kind) {
  return kind == ConfigKind::policy ? "policy" : "config";
}

std::optional<ConfigKind> parse_config_kind(std::string_view text) {
  if (text == "config") return ConfigKind::config;
  if (text == "policy") return ConfigKind::policy;
  return std::nullopt;
}

json ConfigCreated::to_json() const {
  return {{"org", org}, {"name", name}, {"kind", muster::to_string(kind)}, {"description", description}};
}

Result<ConfigCreated> ConfigCreated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  ConfigCreated event;
  std::string kind;
  if (!read(data, "org", event.org) || !read(data, "name", event.name) || !read(data, "kind", kind) ||
      !read(data, "description", event.description, payload::Presence::optional)) {
    return payload_error("bad ConfigCreated payload");
  }
  const auto parsed = parse_config_kind(kind);
  if (!parsed) return payload_error("bad ConfigCreated kind");
  event.kind = *parsed;
  return event;
}

json ConfigVersionAdded::to_json() const {
  json out{{"version", version},
           {"files", files ? files_to_json(*files) : json::object()},
           {"hash", hash},
           {"message", message},
           {"author", author}};
  if (rolled_back_from != 0) out["rolled_back_from"] = rolled_back_from;
  return out;
}

Result<ConfigVersionAdded> ConfigVersionAdded::from_json(const json& data, std::uint32_t /*schema_version*/) {
  ConfigVersionAdded event;
  const auto files = data.find("files");
  if (!read(data, "version", event.version) || files == data.end() || !read(data, "hash", event.hash) ||
      !read(data, "message", event.message, payload::Presence::optional) ||
      !read(data, "author", event.author, payload::Presence::optional) ||
      !read(data, "rolled_back_from", event.rolled_back_from, payload::Presence::optional)) {
    return payload_error("bad ConfigVersionAdded payload");
  }
  auto parsed = files_from_json(*files);
  if (!parsed) return payload_error(parsed.error().message);
  event.files = std::make_shared<const ConfigFiles>(std::move(*parsed));
  return event;
}

const ConfigVersion* Config::find_version(std::uint64_t number) const {
  if (number == 0 || number > versions.size()) return nullptr;
  return &versions[number - 1];
}

bool operator==(const ConfigVersion& left, const ConfigVersion& right) {
  const bool same_files = left.files == right.files || (left.files && right.files && *left.files == *right.files);
  return left.number == right.number && same_files && left.hash == right.hash && left.message == right.message &&
         left.author == right.author && left.rolled_back_from == right.rolled_back_from &&
         left.created_at_ms == right.created_at_ms && left.position == right.position;
}

bool operator==(const Config& left, const Config& right) {
  return left.org == right.org && left.name == right.name && left.kind == right.kind &&
         left.description == right.description && left.exists == right.exists && left.versions == right.versions &&
         left.created_at_ms == right.created_at_ms && left.updated_at_ms == right.updated_at_ms &&
         left.version == right.version && left.last_position == right.last_position;
}

Status apply(Config& config, const ConfigEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != config.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<ConfigCreated>(&event)) {
    if (config.exists) return corrupt_event(header, type, "the config exists already");
    if (stream_id_of(header.stream, kConfigKind) !=
        std::optional<std::string_view>(org_scoped_id(created->org, created->name))) {
      return corrupt_event(header, type, "org and name differ from the stream id");
    }
    config.org = created->org;
    config.name = created->name;
    config.kind = created->kind;
    config.description = created->description;
    config.exists = true;
    config.created_at_ms = header.time_ms;
  } else if (const auto* added = std::get_if<ConfigVersionAdded>(&event)) {
    if (!config.exists) return corrupt_event(header, type, "a version of a config that does not exist");
    if (added->version != config.versions.size() + 1) return corrupt_event(header, type, "versions out of order");
    if (!added->files) return corrupt_event(header, type, "no files");
    config.versions.push_back(ConfigVersion{added->version, added->files, added->hash, added->message,
                                            added->author, added->rolled_back_from, header.time_ms,
                                            header.position});
  } else {
    if (!config.exists) return corrupt_event(header, type, "deletion of a config that does not exist");
    config.exists = false;
  }
  config.updated_at_ms = header.time_ms;
  config.version = header.version;
  config.last_position = header.position;
  return Status::success();
}

Status apply(Config& config, const Event& event) {
  return apply_stored<ConfigEvent>(config, event);
}

}  // namespace muster
