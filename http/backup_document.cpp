#include "http/backup_document.hpp"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>

#include <fmt/format.h>

#include "actors/group/group_decider.hpp"
#include "common/time_format.hpp"
#include "http/assignment_parsing.hpp"
#include "http/json_views.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

// The document's own bounds (the configs routes take the author from the caller).
constexpr std::size_t kMaxAuthorLength = 256;
constexpr std::size_t kMaxProblems = 100;

// A config as the document keeps it: each version as GET .../versions
// shows it, with its files.
json backup_config_json(const Config& config) {
  json versions = json::array();
  for (const ConfigVersion& version : config.versions) {
    json out = config_version_to_json(version);
    out["files"] = files_to_json(*version.files);
    versions.push_back(std::move(out));
  }
  return {{"name", config.name},
          {"kind", to_string(config.kind)},
          {"description", config.description},
          {"versions", std::move(versions)}};
}

// A group as GET /api/v1/groups/{name} shows it, without what belongs to
// the server it is on (organization, count, times).
json backup_group_json(const Group& group) {
  json out = group_to_json(group, true);
  for (const char* key : {"org", "member_count", "created_at", "updated_at"}) out.erase(key);
  return out;
}

// Reads a document, collecting problems per field (the first kMaxProblems).
class DocumentReader {
 public:
  explicit DocumentReader(std::size_t max_config_bytes) : max_config_bytes_(max_config_bytes) {}

  Parsed<Backup> read(const json& document) {
    const json* format = member(document, "format");
    if (format == nullptr || !format->is_string() || format->get_ref<const std::string&>() != kBackupFormat) {
      fail("format", fmt::format("must be \"{}\"", kBackupFormat));
    }
    const json* version = member(document, "format_version");
    if (version == nullptr || !version->is_number_unsigned() || version->get<std::uint64_t>() != kBackupFormatVersion) {
      fail("format_version", fmt::format("must be {}: the version this server reads", kBackupFormatVersion));
    }
    if (!problems_.empty()) return invalid();  // Another format: nothing else is worth reading.
    only(document, "", "a backup document",
         {"format", "format_version", "org", "created_at", "log_position", "configs", "groups", "agents",
          "instances"});
    if (const json* org = member(document, "org")) {
      if (!org->is_string() || !is_valid_org(org->get_ref<const std::string&>())) {
        fail("org", "must be 1 to 128 characters of [A-Za-z0-9._-]");
      } else {
        backup_.org = org->get<std::string>();
      }
    }
    backup_.created_at_ms = time(document, "", "created_at");
    if (const json* position = member(document, "log_position")) {
      if (!position->is_number_unsigned()) {
        fail("log_position", "must be a whole number");
      } else {
        backup_.log_position = position->get<std::uint64_t>();
      }
    }
    read_instances(document);
    for_each_item(document, "configs", [&](const json& item, const std::string& at) { read_config(item, at); });
    for_each_item(document, "groups", [&](const json& item, const std::string& at) { read_group(item, at); });
    for_each_item(document, "agents", [&](const json& item, const std::string& at) { read_agent(item, at); });
    if (!problems_.empty()) return invalid();
    return std::move(backup_);
  }

 private:
  void fail(const std::string& field, const std::string& why) {
    if (problems_.size() < kMaxProblems && !problems_.contains(field)) problems_[field] = why;
  }
  // Takes the details of a refusal by a request parser, each field under `at`.
  void fail_all(const Invalid& invalid, const std::string& at) {
    for (const auto& [field, why] : invalid.details.items()) {
      fail(at + field, why.is_string() ? why.get<std::string>() : why.dump());
    }
  }
  Invalid invalid() const { return Invalid{"backup document failed validation", "VALIDATION_FAILED", problems_}; }

  static const json* member(const json& object, const char* key) {
    const auto found = object.find(key);
    return found == object.end() || found->is_null() ? nullptr : &*found;
  }
  // Refuses the members of `object` (`what`) not among `known`.
  void only(const json& object, const std::string& at, const char* what, std::initializer_list<const char*> known) {
    for (const auto& item : object.items()) {
      const std::string& key = item.key();
      if (std::none_of(known.begin(), known.end(), [&](const char* name) { return key == name; })) {
        fail(at + key, fmt::format("is not a member of {}", what));
      }
    }
  }
  // Calls `read(item, "<key>[i].")` for each item of the array `key` (absent: none).
  template <class Read>
  void for_each_item(const json& object, const char* key, Read&& read) {
    const json* items = member(object, key);
    if (items == nullptr) return;
    if (!items->is_array()) return fail(key, "must be an array");
    for (std::size_t index = 0; index < items->size(); ++index) {
      const std::string at = fmt::format("{}[{}]", key, index);
      if (!(*items)[index].is_object()) {
        fail(at, "must be an object");
        continue;
      }
      read((*items)[index], at + ".");
    }
  }
  // A string of at most `max_length` characters (without control
  // characters unless `controls_allowed`); "" when absent.
  std::string text(const json& object, const std::string& at, const char* key, std::size_t max_length,
                   bool controls_allowed = true) {
    const json* value = member(object, key);
    if (value == nullptr) return {};
    if (!value->is_string() || value->get_ref<const std::string&>().size() > max_length ||
        (!controls_allowed && has_control_character(value->get_ref<const std::string&>()))) {
      fail(at + key, fmt::format("must be a string of at most {} characters{}", max_length,
                                 controls_allowed ? "" : " without control characters"));
      return {};
    }
    return value->get<std::string>();
  }
  // An RFC 3339 time; 0 when absent.
  TimeMs time(const json& object, const std::string& at, const char* key) {
    const json* value = member(object, key);
    if (value == nullptr) return 0;
    const auto parsed = value->is_string() ? parse_rfc3339(value->get_ref<const std::string&>())
                                           : Result<TimeMs>(make_error(ErrorCode::invalid_argument, key));
    if (!parsed) fail(at + key, "must be an RFC 3339 time, such as 2026-11-22T05:51:00Z");
    return parsed ? *parsed : 0;
  }
  std::string name(const json& object, const std::string& at) {
    const json* value = member(object, "name");
    if (value == nullptr || !value->is_string() || !is_valid_config_name(value->get_ref<const std::string&>())) {
      fail(at + "name", kConfigNameRule);
      return {};
    }
    return value->get<std::string>();
  }
  std::optional<AgentId> agent_id(const json& value, const std::string& field) {
    const auto id = value.is_string() ? AgentId::parse(value.get_ref<const std::string&>()) : std::nullopt;
    if (!id) fail(field, "must be an agent id: a lowercase UUID");
    return id;
  }

  void read_instances(const json& document) {
    const json* instances = member(document, "instances");
    if (instances == nullptr) return;
    if (!instances->is_object()) return fail("instances", "must be an object of agent id to instance id");
    for (const auto& [id, instance] : instances->items()) {
      const std::string field = "instances." + id;
      const auto parsed = agent_id(json(id), field);
      if (!instance.is_string() || !is_valid_instance_id(instance.get_ref<const std::string&>())) {
        fail(field, "must be an instance id: 1 to 128 characters of [A-Za-z0-9._:-]");
      } else if (parsed) {
        backup_.instances.emplace(*parsed, instance.get<std::string>());
      }
    }
  }

  void read_config(const json& item, const std::string& at) {
    only(item, at, "a config", {"name", "kind", "description", "versions"});
    Config config;
    config.name = name(item, at);
    if (!config.name.empty() && !config_names_.insert(config.name).second) fail(at + "name", "names a config twice");
    const json* kind = member(item, "kind");
    const auto known = kind != nullptr && kind->is_string() ? parse_config_kind(kind->get_ref<const std::string&>())
                                                            : std::optional<ConfigKind>(ConfigKind::config);
    if (!known) fail(at + "kind", R"(must be "config" or "policy")");
    config.kind = known.value_or(ConfigKind::config);
    config.description = text(item, at, "description", kMaxDescriptionLength);
    const json* versions = member(item, "versions");
    if (versions == nullptr || !versions->is_array() || versions->empty()) {
      fail(at + "versions", "must be an array of at least one version");
    } else {
      for (std::size_t index = 0; index < versions->size(); ++index) {
        read_version((*versions)[index], fmt::format("{}versions[{}].", at, index), config);
      }
    }
    config.exists = true;
    backup_.configs.push_back(std::move(config));
  }

  void read_version(const json& item, const std::string& at, Config& config) {
    if (!item.is_object()) return fail(at.substr(0, at.size() - 1), "must be an object");
    only(item, at, "a version", {"version", "hash", "files", "message", "author", "created_at", "rolled_back_from"});
    ConfigVersion version;
    const json* number = member(item, "version");
    const std::uint64_t previous = config.versions.empty() ? 0 : config.versions.back().number;
    if (number == nullptr || !number->is_number_unsigned() || number->get<std::uint64_t>() <= previous) {
      fail(at + "version", fmt::format("must be a whole number greater than {}", previous));
    } else {
      version.number = number->get<std::uint64_t>();
    }
    const json* files_member = member(item, "files");
    auto files = parse_config_files(files_member == nullptr ? json(nullptr) : *files_member, max_config_bytes_,
                                    at + "files");
    if (auto* refused = std::get_if<Invalid>(&files)) {
      fail_all(*refused, "");
    } else {
      version.hash = hash_files(std::get<ConfigFiles>(files));
      version.files = std::make_shared<const ConfigFiles>(std::get<ConfigFiles>(std::move(files)));
      const json* hash = member(item, "hash");
      if (hash != nullptr && (!hash->is_string() || hash->get_ref<const std::string&>() != version.hash)) {
        fail(at + "hash", "is not the hash of the version's files");
      }
      if (!config.versions.empty() && config.versions.back().hash == version.hash) {
        fail(at + "files", "are the files of the version before it: each version changes them");
      }
    }
    version.message = text(item, at, "message", kMaxVersionMessageLength);
    version.author = text(item, at, "author", kMaxAuthorLength);
    version.created_at_ms = time(item, at, "created_at");
    if (const json* from = member(item, "rolled_back_from")) {
      const ConfigVersion* copied =
          from->is_number_unsigned() ? config.find_version(from->get<std::uint64_t>()) : nullptr;
      if (copied == nullptr || (version.files && copied->hash != version.hash)) {
        fail(at + "rolled_back_from", "must be an earlier version of this config with the same files");
      } else {
        version.rolled_back_from = copied->number;
      }
    }
    config.versions.push_back(std::move(version));
  }

  void read_group(const json& item, const std::string& at) {
    only(item, at, "a group", {"name", "selector", "priority", "description", "members", "assignment"});
    Group group;
    group.name = name(item, at);
    if (!group.name.empty() && !group_names_.insert(group.name).second) fail(at + "name", "names a group twice");
    if (const json* selector = member(item, "selector")) {
      auto parsed = parse_selector(*selector);
      if (auto* refused = std::get_if<Invalid>(&parsed)) {
        fail_all(*refused, at);
      } else {
        group.selector = std::get<LabelSelector>(std::move(parsed));
      }
    }
    if (const json* priority = member(item, "priority")) {
      const bool in_bounds = priority->is_number_integer() &&
                             (priority->is_number_unsigned() ? priority->get<std::uint64_t>() <= kMaxGroupPriority
                                                             : priority->get<std::int64_t>() >= -kMaxGroupPriority &&
                                                                   priority->get<std::int64_t>() <= kMaxGroupPriority);
      if (!in_bounds) {
        fail(at + "priority", fmt::format("must be an integer from {} to {}", -kMaxGroupPriority, kMaxGroupPriority));
      } else {
        group.priority = priority->get<std::int64_t>();
      }
    }
    group.description = text(item, at, "description", kMaxDescriptionLength, false);
    if (const json* members = member(item, "members")) {
      if (!members->is_array()) {
        fail(at + "members", "must be an array of agent ids");
      } else {
        for (std::size_t index = 0; index < members->size(); ++index) {
          if (const auto id = agent_id((*members)[index], fmt::format("{}members[{}]", at, index))) {
            group.members.insert(*id);
          }
        }
      }
    }
    group.assignment = assignment(item, at);
    group.exists = true;
    backup_.groups.push_back(std::move(group));
  }

  void read_agent(const json& item, const std::string& at) {
    only(item, at, "an agent", {"agent_id", "instance_id", "assignment"});
    BackupAgent agent;
    const json* id = member(item, "agent_id");
    if (const auto parsed = agent_id(id == nullptr ? json(nullptr) : *id, at + "agent_id")) {
      agent.agent_id = *parsed;
      if (!agent_ids_.insert(*parsed).second) fail(at + "agent_id", "names an agent twice");
    }
    const json* instance = member(item, "instance_id");
    if (instance == nullptr || !instance->is_string() ||
        !is_valid_instance_id(instance->get_ref<const std::string&>())) {
      fail(at + "instance_id", "must be an instance id: 1 to 128 characters of [A-Za-z0-9._:-]");
    } else {
      agent.instance_id = instance->get<std::string>();
    }
    auto read = assignment(item, at);
    if (!read) {
      fail(at + "assignment", "is required: what the agent is assigned");
    } else {
      agent.assignment = std::move(*read);
    }
    backup_.agents.push_back(std::move(agent));
  }

  // The member "assignment" of `item`: nullopt if absent, null or empty.
  // Names configs of the document, of the right kind, and versions they have.
  std::optional<Assignment> assignment(const json& item, const std::string& at) {
    const json* value = member(item, "assignment");
    if (value == nullptr) return std::nullopt;
    auto parsed = parse_assignment(*value);
    if (auto* refused = std::get_if<Invalid>(&parsed)) {
      fail_all(*refused, at + "assignment.");
      return std::nullopt;
    }
    Assignment assignment = std::get<Assignment>(std::move(parsed));
    if (assignment.empty()) return std::nullopt;
    if (assignment.config) check_ref(*assignment.config, ConfigKind::config, at + "assignment.config", at + "assignment.version");
    for (const ConfigRef& policy : assignment.policies) {
      check_ref(policy, ConfigKind::policy, at + "assignment.policies", at + "assignment.policies");
    }
    return assignment;
  }

  // Configs are read before groups and agents, so the document's are known here.
  void check_ref(const ConfigRef& ref, ConfigKind kind, const std::string& name_field,
                 const std::string& version_field) {
    const auto found = std::find_if(backup_.configs.begin(), backup_.configs.end(),
                                    [&](const Config& config) { return config.name == ref.name; });
    if (found == backup_.configs.end() || found->kind != kind) {
      return fail(name_field, fmt::format("'{}' must be a {} of this document", ref.name, to_string(kind)));
    }
    if (ref.version != 0 && found->find_version(ref.version) == nullptr) {
      fail(version_field, fmt::format("'{}' has no version {} in this document", ref.name, ref.version));
    }
  }

  const std::size_t max_config_bytes_;
  Backup backup_;
  json problems_ = json::object();
  std::set<std::string> config_names_;
  std::set<std::string> group_names_;
  std::set<AgentId> agent_ids_;
};

}  // namespace

json backup_to_json(const Backup& backup) {
  json configs = json::array();
  for (const Config& config : backup.configs) configs.push_back(backup_config_json(config));
  json groups = json::array();
  for (const Group& group : backup.groups) groups.push_back(backup_group_json(group));
  json agents = json::array();
  for (const BackupAgent& agent : backup.agents) {
    agents.push_back({{"agent_id", agent.agent_id.to_string()},
                      {"instance_id", agent.instance_id},
                      {"assignment", assignment_to_json(agent.assignment)}});
  }
  json instances = json::object();
  for (const auto& [agent_id, instance_id] : backup.instances) instances[agent_id.to_string()] = instance_id;
  return {{"format", kBackupFormat},
          {"format_version", kBackupFormatVersion},
          {"org", backup.org},
          {"created_at", format_rfc3339(backup.created_at_ms)},
          {"log_position", backup.log_position},
          {"configs", std::move(configs)},
          {"groups", std::move(groups)},
          {"agents", std::move(agents)},
          {"instances", std::move(instances)}};
}

Parsed<Backup> parse_backup(const json& document, std::size_t max_config_bytes) {
  if (!document.is_object()) {
    return Invalid{"backup document must be a JSON object", "INVALID_JSON", json{{"body", "must be a JSON object"}}};
  }
  return DocumentReader(max_config_bytes).read(document);
}

}  // namespace muster::http
