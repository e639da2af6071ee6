// /api/v1/configs: configs and policies, their versions, diffs, rollbacks
// and how the agents given them are doing. Viewers read, operators write,
// admins delete; every request works in one organization (Call::require_org).

#include <set>

#include <fmt/format.h>

#include "actors/config/config_files.hpp"
#include "common/time_format.hpp"
#include "common/unified_diff.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

// What the body of a create or an update carries.
struct ConfigBody {
  std::string name;
  ConfigKind kind = ConfigKind::config;
  std::string description;
  SharedConfigFiles files;
  std::string message;
};

// Collects problems per field of a config request body.
class BodyReader {
 public:
  explicit BodyReader(const json& body) : body_(body) {}

  const json* member(const char* key) const {
    const auto found = body_.find(key);
    return found == body_.end() || found->is_null() ? nullptr : &*found;
  }

  std::string text(const char* key, std::size_t max_length) {
    const json* value = member(key);
    if (value == nullptr) return {};
    if (!value->is_string()) return fail(key, "must be a string");
    if (value->get_ref<const std::string&>().size() > max_length) {
      return fail(key, fmt::format("must be at most {} characters", max_length));
    }
    return value->get<std::string>();
  }

  // The member "files": a file map under parse_config_files' rules, its
  // bodies at most `max_bytes` together.
  SharedConfigFiles files(std::size_t max_bytes) {
    const json* value = member("files");
    if (value == nullptr) {
      return fail_files("files", R"(is required: {"<file name>": {"content_type": "...", "body": "..."}})");
    }
    auto parsed = parse_config_files(*value, max_bytes);
    if (auto* invalid = std::get_if<Invalid>(&parsed)) {
      for (const auto& [key, why] : invalid->details.items()) problems_[key] = why;
      return nullptr;
    }
    return std::make_shared<const ConfigFiles>(std::get<ConfigFiles>(std::move(parsed)));
  }

  std::string fail(const std::string& key, const std::string& why) {
    problems_[key] = why;
    return {};
  }
  SharedConfigFiles fail_files(const std::string& key, const std::string& why) {
    fail(key, why);
    return nullptr;
  }

  bool ok() const { return problems_.empty(); }
  Invalid invalid() const {
    return Invalid{"request body failed validation", "VALIDATION_FAILED", problems_};
  }

 private:
  const json& body_;
  json problems_ = json::object();
};

// {name, kind?, description?, files, message?} for a create (`creating`),
// {files, message?} for an update.
Parsed<ConfigBody> parse_config_body(const json& body, bool creating, std::size_t max_config_bytes) {
  BodyReader reader(body);
  ConfigBody parsed;
  if (creating) {
    parsed.name = reader.text("name", kMaxConfigNameLength);
    if (!is_valid_config_name(parsed.name)) reader.fail("name", kConfigNameRule);
    if (const json* kind = reader.member("kind")) {
      const auto known =
          kind->is_string() ? parse_config_kind(kind->get_ref<const std::string&>()) : std::nullopt;
      if (known) {
        parsed.kind = *known;
      } else {
        reader.fail("kind", R"(must be "config" or "policy")");
      }
    }
    parsed.description = reader.text("description", kMaxDescriptionLength);
  }
  parsed.files = reader.files(max_config_bytes);
  parsed.message = reader.text("message", kMaxVersionMessageLength);
  if (!reader.ok()) return reader.invalid();
  return parsed;
}

// The path's {name}; answers 400 and returns false if no config could have it.
bool require_name(Call& call, std::string& name) {
  name = call.params["name"];
  if (is_valid_config_name(name)) return true;
  call.reply_error(400, "invalid config name", "VALIDATION_FAILED", json{{"name", kConfigNameRule}});
  return false;
}

// The org and the path's {name}, or false once answered.
bool require_target(Call& call, std::string& org, std::string& name) {
  return call.require_org(org) && require_name(call, name);
}

// The config `name` of `org` as the read model holds it; answers 404 and
// returns nullopt if it does not exist (never made, or deleted).
std::optional<Config> find_config(Call& call, const std::string& org, const std::string& name) {
  auto config = call.services.config_model->config(org, name);
  if (!config || !config->exists || config->latest() == nullptr) {
    call.reply_failure(make_error(ErrorCode::not_found, "no config with this name", "CONFIG_NOT_FOUND"));
    return std::nullopt;
  }
  return config;
}

// Runs `then(config)` with the path's config once the read model holds
// `?min_position`; answers the refusal instead when there is none.
template <class Then>
void with_config(const std::shared_ptr<Call>& call, Then then) {
  std::string org, name;
  if (!require_target(*call, org, name)) return;
  call->when_projected([call, org, name, then = std::move(then)] {
    if (const auto config = find_config(*call, org, name)) then(*config);
  });
}

// Query parameter `parameter` as a version of `config`: `fallback` when
// absent (null: the parameter is required). Answers 400 and returns null when it is not a
// number (INVALID_PARAMETER) or not a version (VERSION_NOT_FOUND).
const ConfigVersion* require_version(Call& call, const Config& config, const std::string& parameter,
                                     const ConfigVersion* fallback) {
  if (call.head.query.count(parameter) == 0 && fallback != nullptr) return fallback;
  if (call.head.query.count(parameter) == 0) {
    call.reply_error(400, fmt::format("query parameter '{}' is required", parameter), "INVALID_PARAMETER",
                     json{{parameter, "is required: a version number"}});
    return nullptr;
  }
  auto number = parse_uint_param(call.head.query, parameter, 0, UINT64_MAX);
  if (auto* invalid = std::get_if<Invalid>(&number)) {
    call.reply_invalid(*invalid);
    return nullptr;
  }
  const ConfigVersion* version = config.find_version(std::get<std::uint64_t>(number));
  if (version == nullptr) {
    call.reply_failure(invalid_field(parameter,
                                     fmt::format("this config has versions 1 to {}", config.versions.size()),
                                     "VERSION_NOT_FOUND"));
  }
  return version;
}

// `If-Match: <version>` (digits, optionally quoted) as the version an update
// expects to replace; nullopt without one (or "*"). Answers 400 and returns
// false when it is something else.
bool read_if_match(Call& call, std::optional<std::uint64_t>& expected) {
  const auto header = call.head.headers.find("If-Match");
  if (!header) return true;
  std::string_view text = *header;
  if (text == "*") return true;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  std::uint64_t value = 0;
  bool valid = !text.empty() && text.size() <= 19;
  for (const char c : text) {
    if (c < '0' || c > '9') valid = false;
    if (valid) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!valid || value == 0) {
    call.reply_error(400, "If-Match must name a version", "INVALID_HEADER",
                     json{{"If-Match", "must be a version number such as 3 or \"3\""}});
    return false;
  }
  expected = value;
  return true;
}

json write_json(const ConfigWrite& write) {
  return {{"name", write.name},
          {"version", write.latest.number},
          {"hash", write.latest.hash},
          {"changed", write.changed},
          {"position", write.position}};
}

// The answer to a file of a diff, or null when it is unchanged.
json file_change(const std::string& name, const ConfigFile* before, const ConfigFile* after,
                 std::uint64_t from, std::uint64_t to) {
  if (before != nullptr && after != nullptr && *before == *after) return nullptr;
  const char* change = before == nullptr ? "added" : after == nullptr ? "removed" : "modified";
  const std::string before_label = before == nullptr ? "/dev/null" : fmt::format("v{}/{}", from, name);
  const std::string after_label = after == nullptr ? "/dev/null" : fmt::format("v{}/{}", to, name);
  json out{
      {"name", name},
      {"change", change},
      {"diff", unified_diff(before != nullptr ? before->body : std::string_view(),
                            after != nullptr ? after->body : std::string_view(), before_label, after_label)}};
  if (before != nullptr && after != nullptr && before->content_type != after->content_type) {
    out["content_type"] = {{"from", before->content_type}, {"to", after->content_type}};
  }
  return out;
}

void create_config(const std::shared_ptr<Call>& call) {
  std::string org;
  json body;
  if (!call->parse_body(false, body) || !call->require_org(org)) return;
  auto parsed = parse_config_body(body, true, call->options.max_config_bytes);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  auto& request = std::get<ConfigBody>(parsed);
  CreateConfig command{org,
                       request.name,
                       request.kind,
                       std::move(request.description),
                       std::move(request.files),
                       std::move(request.message),
                       {}};
  call->await<ConfigWrite>(
      "BUSY",
      [&](auto done) { call->services.configs->create(std::move(command), call->context, std::move(done)); },
      [call](Result<ConfigWrite> write) {
        if (!write) return call->reply_failure(write.error());
        json answer = write_json(*write);
        answer.erase("changed");
        answer["kind"] = to_string(write->kind);
        call->reply_json(201, answer);
      });
}

void update_config(const std::shared_ptr<Call>& call) {
  std::string org, name;
  std::optional<std::uint64_t> expected;
  json body;
  if (!call->parse_body(false, body) || !require_target(*call, org, name) ||
      !read_if_match(*call, expected)) {
    return;
  }
  auto parsed = parse_config_body(body, false, call->options.max_config_bytes);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  auto& request = std::get<ConfigBody>(parsed);
  AddConfigVersion command{std::move(request.files), std::move(request.message), {}, expected};
  call->await<ConfigWrite>(
      "BUSY",
      [&](auto done) {
        call->services.configs->update(org, name, std::move(command), call->context, std::move(done));
      },
      [call](Result<ConfigWrite> write) {
        if (!write) return call->reply_failure(write.error());
        call->reply_json(200, write_json(*write));
      });
}

void rollback_config(const std::shared_ptr<Call>& call) {
  std::string org, name;
  json body;
  if (!call->parse_body(false, body) || !require_target(*call, org, name)) return;
  BodyReader reader(body);
  RollbackConfig command;
  const json* version = reader.member("version");
  if (version != nullptr && version->is_number_unsigned() && version->get<std::uint64_t>() > 0) {
    command.to_version = version->get<std::uint64_t>();
  } else {
    reader.fail("version", "is required: the number of the version to roll back to");
  }
  command.message = reader.text("message", kMaxVersionMessageLength);
  if (!reader.ok()) return call->reply_invalid(reader.invalid());
  call->await<ConfigWrite>(
      "BUSY",
      [&](auto done) {
        call->services.configs->rollback(org, name, std::move(command), call->context, std::move(done));
      },
      [call, to_version = command.to_version](Result<ConfigWrite> write) {
        if (!write) return call->reply_failure(write.error());
        json answer = write_json(*write);
        answer["rolled_back_from"] = to_version;
        call->reply_json(200, answer);
      });
}

void delete_config(const std::shared_ptr<Call>& call) {
  std::string org, name;
  if (!require_target(*call, org, name)) return;
  call->await<std::uint64_t>(
      "BUSY", [&](auto done) { call->services.configs->remove(org, name, call->context, std::move(done)); },
      [call, name](Result<std::uint64_t> position) {
        if (!position) return call->reply_failure(position.error());
        call->reply_json(200, {{"name", name}, {"deleted", true}, {"position", *position}});
      });
}

void list_configs(const std::shared_ptr<Call>& call) {
  std::string org;
  if (!call->require_org(org)) return;
  call->when_projected([call, org] {
    json configs = json::array();
    for (const Config& config : call->services.config_model->configs(org)) {
      const ConfigVersion* latest = config.latest();
      if (latest == nullptr) continue;
      configs.push_back({{"name", config.name},
                         {"kind", to_string(config.kind)},
                         {"description", config.description},
                         {"latest_version", latest->number},
                         {"hash", latest->hash},
                         {"updated_at", format_rfc3339(config.updated_at_ms)},
                         {"created_at", format_rfc3339(config.created_at_ms)}});
    }
    call->reply_json(200, {{"configs", std::move(configs)}});
  });
}

// The file `name` of `version`, or null.
const ConfigFile* file_of(const ConfigVersion& version, const std::string& name) {
  const auto found = version.files->find(name);
  return found == version.files->end() ? nullptr : &found->second;
}

void get_config(const std::shared_ptr<Call>& call) {
  with_config(call, [call](const Config& config) {
    const ConfigVersion* version = require_version(*call, config, "version", config.latest());
    if (version == nullptr) return;
    json answer = config_version_to_json(*version);
    answer["name"] = config.name;
    answer["kind"] = to_string(config.kind);
    answer["description"] = config.description;
    answer["files"] = files_to_json(*version->files);
    Response response;
    response.body = answer.dump(-1, ' ', false, json::error_handler_t::replace);
    response.headers.emplace_back("ETag", "\"" + version->hash + "\"");
    call->reply(std::move(response));
  });
}

void list_versions(const std::shared_ptr<Call>& call) {
  with_config(call, [call](const Config& config) {
    json versions = json::array();
    for (const ConfigVersion& version : config.versions) versions.push_back(config_version_to_json(version));
    call->reply_json(200, {{"name", config.name}, {"versions", std::move(versions)}});
  });
}

void diff_versions(const std::shared_ptr<Call>& call) {
  with_config(call, [call](const Config& config) {
    const ConfigVersion* from = require_version(*call, config, "from", nullptr);
    if (from == nullptr) return;
    const ConfigVersion* to = require_version(*call, config, "to", nullptr);
    if (to == nullptr) return;
    std::set<std::string> names;
    for (const auto& [name, file] : *from->files) names.insert(name);
    for (const auto& [name, file] : *to->files) names.insert(name);
    json files = json::array();
    for (const std::string& name : names) {
      json change = file_change(name, file_of(*from, name), file_of(*to, name), from->number, to->number);
      if (!change.is_null()) files.push_back(std::move(change));
    }
    call->reply_json(
        200,
        {{"name", config.name}, {"from", from->number}, {"to", to->number}, {"files", std::move(files)}});
  });
}

void config_status(const std::shared_ptr<Call>& call) {
  with_config(call, [call](const Config& config) {
    call->reply_json(
        200, {{"name", config.name},
              {"counts", config_status_counts_to_json(
                             call->services.config_model->config_status_counts(config.org, config.name))}});
  });
}

}  // namespace

void add_configs(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/configs", {create_config, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/configs", any_node({list_configs, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/configs/{name}", any_node({get_config, C::api_key, Role::viewer}));
  table.add("PUT", "/api/v1/configs/{name}", {update_config, C::api_key, Role::operator_, false, true});
  table.add("DELETE", "/api/v1/configs/{name}", {delete_config, C::api_key, Role::admin});
  table.add("GET", "/api/v1/configs/{name}/versions", any_node({list_versions, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/configs/{name}/diff", any_node({diff_versions, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/configs/{name}/status", any_node({config_status, C::api_key, Role::viewer}));
  table.add("POST", "/api/v1/configs/{name}/rollback",
            {rollback_config, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
