#pragma once
/// Enrollment tokens: what the API asks of them. Each token is an aggregate
/// on the runtime (enrollment_token_decider.hpp) with snapshots (a token
/// admitting a rollout has a long stream); reads come from the access read
/// model (projections/access_projection.hpp).
///
/// Thread safety: every method may be called from any thread; `done` runs
/// on the token's actor or the projection runner's thread, never blocking.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/agent/agent_id.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/access_projection.hpp"

namespace muster {

struct EnrollmentTokenRequest {
  std::string name;
  std::optional<std::string> org;  ///< nullopt: the creator's choice (see creation_org).
  TimeMs expires_in_ms = 30LL * 24 * 3600 * 1000;
  std::optional<std::uint64_t> max_uses;
  std::map<std::string, std::string> labels;
};

/// A token as issued: the plaintext exists only here.
struct IssuedEnrollmentToken {
  EnrollmentToken token;
  std::string plaintext;
  std::uint64_t position = 0;
};

class EnrollmentService : public Service {
 public:
  /// A token's snapshot is saved every this many events. Default: 1000.
  static constexpr std::uint64_t kSnapshotEvery = 1000;

  /// References must outlive the service.
  EnrollmentService(runtime::Runtime& runtime, EventStore& store, SnapshotStore& snapshots,
                    const AccessProjection& access, WhenFolded when_folded);
  ~EnrollmentService() override;

  std::string_view name() const override { return "enrollment-tokens"; }
  Status start() override { return Status::success(); }
  void stop() override;

  /// Makes a token expiring `expires_in_ms` from now in the organization
  /// `creation_org` allows; answers once the access model has it.
  void create(const Principal& creator, const EnrollmentTokenRequest& request, const RequestContext& context,
              std::function<void(Result<IssuedEnrollmentToken>)> done);
  /// Revokes a token `caller` may see; answers once it no longer admits anyone.
  void revoke(const Principal& caller, const std::string& token_id, const RequestContext& context,
              std::function<void(Result<std::uint64_t>)> done);
  /// The tokens `caller` may see, in id order.
  std::vector<EnrollmentToken> list(const Principal& caller) const;

  /// The token in `plaintext` if the read model says it is live now
  /// (unrevoked, unexpired; `used_up` says whether it admits new
  /// instances): a cheap filter that activates nothing.
  std::optional<EnrollmentGrant> check(std::string_view plaintext) const;
  /// Spends one use of the token of `grant` on registering `instance_id` as
  /// `agent_id`; `done` gets the token after it. Refused with
  /// `unauthenticated` / INVALID_ENROLLMENT_TOKEN if it is closed by now.
  void use(const EnrollmentGrant& grant, const AgentId& agent_id, const std::string& instance_id,
           const RequestContext& context, std::function<void(Result<EnrollmentToken>)> done);
  /// Admits a known instance registering again through the token of
  /// `grant`, spending no use; `done` gets the token. Refused with
  /// `unauthenticated` / INVALID_ENROLLMENT_TOKEN if it is revoked or
  /// expired by now (used up is no refusal).
  void reuse(const EnrollmentGrant& grant, const RequestContext& context,
             std::function<void(Result<EnrollmentToken>)> done);

  /// Tokens' actors active now.
  std::size_t active_actors() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
