#include "actors/api_key/api_key_service.hpp"

#include "actors/access/credentials.hpp"
#include "actors/access/record_revocation.hpp"
#include "actors/api_key/api_key_decider.hpp"

namespace muster {

struct ApiKeyService::Impl {
  Impl(runtime::Runtime& runtime, EventStore& store, const AccessProjection* access_in, WhenFolded when_folded_in)
      : access(access_in), when_folded(std::move(when_folded_in)), host(runtime, store, repository, options()) {}

  static runtime::AggregateHostOptions options() {
    runtime::AggregateHostOptions options;
    options.core.kind = "API key";
    return options;
  }

  const AccessProjection* access;
  const WhenFolded when_folded;
  runtime::FoldRepository<ApiKeyAggregate> repository;
  runtime::AggregateHost<ApiKeyAggregate> host;
};

ApiKeyService::ApiKeyService(runtime::Runtime& runtime, EventStore& store, const AccessProjection* access,
                             WhenFolded when_folded)
    : impl_(std::make_unique<Impl>(runtime, store, access, std::move(when_folded))) {}

ApiKeyService::~ApiKeyService() {
  stop();
}

void ApiKeyService::stop() {
  impl_->host.stop();
}

void ApiKeyService::create(const Principal& creator, const ApiKeyRequest& request, const RequestContext& context,
                           std::function<void(Result<IssuedApiKey>)> done) {
  auto org = creation_org(creator, request.org);
  if (!org) return done(org.error());
  auto made = new_credential(kApiKeyPrefix);
  if (!made) return done(made.error());
  impl_->host.send(made->id, CreateApiKey{request.name, request.role, *org, made->secret_sha256}, context,
                   [impl = impl_.get(), plaintext = std::move(made->plaintext),
                    done = std::move(done)](Result<runtime::Outcome<ApiKey>> outcome) mutable {
                     if (!outcome) return done(outcome.error());
                     auto issued = std::make_shared<IssuedApiKey>(
                         IssuedApiKey{outcome->state, std::move(plaintext), outcome->position});
                     once_folded(impl->when_folded, issued->position,
                                 [issued, done = std::move(done)] { done(std::move(*issued)); });
                   });
}

void ApiKeyService::revoke(const Principal& caller, const std::string& key_id, const RequestContext& context,
                           std::function<void(Result<std::uint64_t>)> done) {
  const auto key = impl_->access ? impl_->access->key(key_id) : std::nullopt;
  revoke_record<RevokeApiKey>(impl_->host, caller, key_id, key ? std::optional<std::string>(key->org) : std::nullopt,
                              {"API key", "API_KEY", "INVALID_KEY_ID"}, context, impl_->when_folded,
                              std::move(done));
}

std::vector<ApiKey> ApiKeyService::list(const Principal& caller) const {
  std::vector<ApiKey> visible;
  if (!impl_->access) return visible;
  for (ApiKey& key : impl_->access->keys()) {
    if (org_visible(caller.org, key.org)) visible.push_back(std::move(key));
  }
  return visible;
}

std::optional<Principal> ApiKeyService::authenticate(std::string_view plaintext) const {
  return impl_->access ? impl_->access->authenticate(plaintext) : std::nullopt;
}

}  // namespace muster
