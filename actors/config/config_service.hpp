#pragma once
/// Configs and policies: what the API asks of them. Each config is an
/// aggregate on the runtime (config_decider.hpp), its stream
/// "config:<org>/<name>" short enough to fold whole on activation; reads come
/// from the config model (projections/config_model.hpp).
///
/// Every write is answered once the config model holds it, so a read right
/// after sees it. Each command's `author` is the caller's principal
/// (`context.principal`), whatever the command held.
///
/// Thread safety: every method may be called from any thread; `done` runs on
/// the config's actor, the projection runner's thread, or (for refusals
/// before any decision) the caller's, never blocking.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/config/config_decider.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "projections/config_model.hpp"

namespace muster {

/// What a create, update or rollback left.
struct ConfigWrite {
  std::string name;
  ConfigKind kind = ConfigKind::config;
  ConfigVersion latest;        ///< The latest version after the command.
  bool changed = false;        ///< False: it added nothing (the files hash as the latest's).
  std::uint64_t position = 0;  ///< The log position the answer reflects.
};

class ConfigService : public Service {
 public:
  using Done = std::function<void(Result<ConfigWrite>)>;

  /// `model` may be null where nothing reads configs back (then nothing is
  /// ever in use). References must outlive the service.
  ConfigService(runtime::Runtime& runtime, EventStore& store, const ConfigModel* model,
                WhenFolded when_folded);
  ~ConfigService() override;

  std::string_view name() const override { return "configs"; }
  Status start() override { return Status::success(); }
  void stop() override;

  /// Makes config `command.name` in `command.org`, or makes a deleted one
  /// again. Refused: `invalid_argument` (a name outside
  /// [a-z0-9][a-z0-9._-]{0,62}), and what decide_create refuses.
  void create(CreateConfig command, const RequestContext& context, Done done);
  /// Adds a version to config `name` of `org` (see decide_add_version).
  void update(const std::string& org, const std::string& name, AddConfigVersion command,
              const RequestContext& context, Done done);
  /// Makes a version of config `name` of `org` equal to an earlier one (see decide_rollback).
  void rollback(const std::string& org, const std::string& name, RollbackConfig command,
                const RequestContext& context, Done done);
  /// Deletes config `name` of `org`; `done` gets the deletion's position.
  /// Refused: `conflict` / CONFIG_IN_USE while the config model says a group
  /// or an agent is assigned it; what decide_delete refuses.
  void remove(const std::string& org, const std::string& name, const RequestContext& context,
              std::function<void(Result<std::uint64_t>)> done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
