// /api/v1/backup and /api/v1/restore: an organization's configuration as
// one document (http/backup_document.hpp), and that document applied back
// as new versions and changes (actors/config/restore.hpp). Operators take
// backups; restoring is an admin's. Both work in one organization
// (Call::require_org).

#include <fmt/format.h>

#include "actors/config/restore.hpp"
#include "http/backup_document.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

/// The largest document a restore reads, whatever the listener's
/// --max-body-bytes (whose default, 1 MiB, is the tighter bound).
constexpr std::size_t kMaxRestoreBytes = std::size_t{64} << 20;

ConfigRestore make_restore(const Call& call) {
  const Services& services = call.services;
  ProjectionRunner* projections = services.projections;
  RestoreOptions options;
  options.step_timeout_ms = call.options.request_timeout_ms;
  return ConfigRestore(*services.configs, *services.groups, *services.agents, *services.config_model,
                       *services.registry, *services.timers,
                       [projections](std::uint64_t position, std::function<void()> then) {
                         projections->when_folded(position, std::move(then));
                       },
                       options);
}

json report_json(const RestoreReport& report) {
  json changes = json::array();
  for (const RestoreChange& change : report.changes) {
    changes.push_back({{"kind", to_string(change.kind)},
                       {"name", change.name},
                       {"action", to_string(change.action)},
                       {"detail", change.detail}});
  }
  return {{"dry_run", report.dry_run},
          {"changes", std::move(changes)},
          {"applied", report.applied},
          {"position", report.position}};
}

void take_backup(const std::shared_ptr<Call>& call) {
  std::string org;
  if (!call->require_org(org)) return;
  call->when_projected([call, org] {
    const Services& services = call->services;
    const Backup backup = muster::take_backup(*services.config_model, *services.registry, org,
                                              services.timers->now_ms(), services.projections->position());
    call->reply_json(200, backup_to_json(backup));
  });
}

// `?dry_run=true|false` (default false); answers 400 and returns false otherwise.
bool read_dry_run(Call& call, bool& dry_run) {
  const auto found = call.head.query.find("dry_run");
  if (found == call.head.query.end() || found->second == "false") return true;
  if (found->second == "true") {
    dry_run = true;
    return true;
  }
  call.reply_error(400, "invalid query parameter 'dry_run'", "INVALID_PARAMETER",
                   json{{"dry_run", "must be true or false"}});
  return false;
}

void restore(const std::shared_ptr<Call>& call) {
  std::string org;
  bool dry_run = false;
  if (!call->require_org(org) || !read_dry_run(*call, dry_run)) return;
  if (call->body.size() > kMaxRestoreBytes) {
    return call->reply_error(413, fmt::format("a backup document is at most {} bytes", kMaxRestoreBytes),
                             "PAYLOAD_TOO_LARGE");
  }
  auto body = parse_json_object(call->body, false, kMaxBackupElements);
  if (auto* invalid = std::get_if<Invalid>(&body)) return call->reply_invalid(*invalid);
  auto parsed = parse_backup(std::get<json>(body), call->options.max_config_bytes);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  call->when_projected([call, org, dry_run, backup = std::get<Backup>(std::move(parsed))]() mutable {
    ConfigRestore restore = make_restore(*call);
    if (dry_run) return call->reply_json(200, report_json(restore.plan(org, backup)));
    // Each change has its own deadline (RestoreOptions), not the request as a whole.
    restore.apply(org, std::move(backup), call->context, [call](Result<RestoreReport> report) {
      if (!report) return call->reply_failure(report.error());
      call->reply_json(200, report_json(*report));
    });
  });
}

}  // namespace

void add_backup(RouteTable& table) {
  using C = Credential;
  table.add("GET", "/api/v1/backup", {take_backup, C::api_key, Role::operator_});
  table.add("POST", "/api/v1/restore", {restore, C::api_key, Role::admin, false, true});
}

}  // namespace muster::http::routes
