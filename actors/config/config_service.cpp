#include "actors/config/config_service.hpp"

#include "actors/access/record_revocation.hpp"

namespace muster {

struct ConfigService::Impl {
  Impl(runtime::Runtime& runtime, EventStore& store, const ConfigModel* model_in, WhenFolded when_folded_in)
      : model(model_in),
        when_folded(std::move(when_folded_in)),
        host(runtime, store, repository, options()) {}

  static runtime::AggregateHostOptions options() {
    runtime::AggregateHostOptions options;
    options.core.kind = "config";
    return options;
  }

  // Sends `command` to config `name` of `org`; answers its write once folded.
  void send(const std::string& org, const std::string& name, ConfigCommand command,
            const RequestContext& context, Done done) {
    if (Status named = check_config_name(name); !named) return done(named.error());
    host.send(
        org_scoped_id(org, name), std::move(command), context,
        [this, done = std::move(done)](Result<runtime::Outcome<Config>> outcome) mutable {
          if (!outcome) return done(outcome.error());
          const ConfigVersion* latest = outcome->state.latest();
          if (latest == nullptr) {
            return done(make_error(ErrorCode::internal, "a config written without a version"));
          }
          auto write = std::make_shared<ConfigWrite>(ConfigWrite{
              outcome->state.name, outcome->state.kind, *latest, outcome->appended > 0, outcome->position});
          once_folded(when_folded, write->position,
                      [write, done = std::move(done)] { done(std::move(*write)); });
        });
  }

  const ConfigModel* model;
  const WhenFolded when_folded;
  runtime::FoldRepository<ConfigAggregate> repository;
  runtime::AggregateHost<ConfigAggregate> host;
};

ConfigService::ConfigService(runtime::Runtime& runtime, EventStore& store, const ConfigModel* model,
                             WhenFolded when_folded)
    : impl_(std::make_unique<Impl>(runtime, store, model, std::move(when_folded))) {}

ConfigService::~ConfigService() {
  stop();
}

void ConfigService::stop() {
  impl_->host.stop();
}

void ConfigService::create(CreateConfig command, const RequestContext& context, Done done) {
  command.author = context.principal;
  const std::string org = command.org;
  const std::string name = command.name;
  impl_->send(org, name, std::move(command), context, std::move(done));
}

void ConfigService::update(const std::string& org, const std::string& name, AddConfigVersion command,
                           const RequestContext& context, Done done) {
  command.author = context.principal;
  impl_->send(org, name, std::move(command), context, std::move(done));
}

void ConfigService::rollback(const std::string& org, const std::string& name, RollbackConfig command,
                             const RequestContext& context, Done done) {
  command.author = context.principal;
  impl_->send(org, name, std::move(command), context, std::move(done));
}

void ConfigService::remove(const std::string& org, const std::string& name, const RequestContext& context,
                           std::function<void(Result<std::uint64_t>)> done) {
  if (Status named = check_config_name(name); !named) return done(named.error());
  if (impl_->model != nullptr && impl_->model->config_in_use(org, name)) {
    return done(make_error(ErrorCode::conflict,
                           "a group or an agent is assigned this config; unassign it first",
                           "CONFIG_IN_USE"));
  }
  impl_->send(org, name, DeleteConfig{}, context, [done = std::move(done)](Result<ConfigWrite> write) {
    if (!write) return done(write.error());
    done(write->position);
  });
}

}  // namespace muster
