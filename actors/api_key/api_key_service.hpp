#pragma once
/// API keys: what the API and the CLI ask of them. Each key is an aggregate
/// on the runtime (api_key_decider.hpp); reads and authentication come from
/// the access read model (projections/access_projection.hpp).
///
/// Thread safety: every method may be called from any thread; `done` runs
/// on the key's actor or the projection runner's thread, never blocking.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "projections/access_projection.hpp"

namespace muster {

struct ApiKeyRequest {
  std::string name;
  Role role = Role::viewer;
  std::optional<std::string> org;  ///< An organization or "*" (every one); nullopt: the creator's choice.
};

/// A key as issued: the plaintext exists only here.
struct IssuedApiKey {
  ApiKey key;
  std::string plaintext;
  std::uint64_t position = 0;
};

class ApiKeyService : public Service {
 public:
  /// `access` may be null where nothing reads keys back (the CLI); then
  /// listing and authentication find nothing. References must outlive the service.
  ApiKeyService(runtime::Runtime& runtime, EventStore& store, const AccessProjection* access,
                WhenFolded when_folded);
  ~ApiKeyService() override;

  std::string_view name() const override { return "api-keys"; }
  Status start() override { return Status::success(); }
  void stop() override;

  /// Makes a key in the organization `creation_org` allows `creator`, and
  /// answers once the access model has it (it works at once).
  void create(const Principal& creator, const ApiKeyRequest& request, const RequestContext& context,
              std::function<void(Result<IssuedApiKey>)> done);
  /// Revokes a key `caller` may see; answers the revocation's position once
  /// the key no longer works.
  void revoke(const Principal& caller, const std::string& key_id, const RequestContext& context,
              std::function<void(Result<std::uint64_t>)> done);
  /// The keys `caller` may see, in id order.
  std::vector<ApiKey> list(const Principal& caller) const;
  /// The principal of a live key given as plaintext, if any.
  std::optional<Principal> authenticate(std::string_view plaintext) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
