#include "actors/enrollment/enrollment_service.hpp"

#include "actors/access/credentials.hpp"
#include "actors/access/record_revocation.hpp"
#include "actors/enrollment/enrollment_token_decider.hpp"
#include "actors/runtime/snapshot_repository.hpp"

namespace muster {
namespace {

/// Snapshots, plus the uses recorded before EnrollmentTokenUsed existed,
/// which only the access model (folding the agents' streams) can count.
class EnrollmentRepository final : public runtime::SnapshotRepository<EnrollmentAggregate> {
 public:
  EnrollmentRepository(SnapshotStore& store, const AccessProjection& access)
      : SnapshotRepository(store, EnrollmentService::kSnapshotEvery), access_(access) {}

  Result<EnrollmentToken> load(const std::string& id) override {
    auto token = SnapshotRepository::load(id);
    if (token) token->legacy_uses = access_.legacy_uses(id);
    return token;
  }

 private:
  const AccessProjection& access_;
};

}  // namespace

struct EnrollmentService::Impl {
  Impl(runtime::Runtime& runtime_in, EventStore& store, SnapshotStore& snapshots,
       const AccessProjection& access_in, WhenFolded when_folded_in)
      : timers(runtime_in.timers()),
        access(access_in),
        when_folded(std::move(when_folded_in)),
        repository(snapshots, access_in),
        host(runtime_in, store, repository, options()) {}

  static runtime::AggregateHostOptions options() {
    runtime::AggregateHostOptions options;
    options.core.kind = "enrollment token";
    return options;
  }

  TimerService& timers;
  const AccessProjection& access;
  const WhenFolded when_folded;
  EnrollmentRepository repository;
  runtime::AggregateHost<EnrollmentAggregate> host;
};

EnrollmentService::EnrollmentService(runtime::Runtime& runtime, EventStore& store, SnapshotStore& snapshots,
                                     const AccessProjection& access, WhenFolded when_folded)
    : impl_(std::make_unique<Impl>(runtime, store, snapshots, access, std::move(when_folded))) {}

EnrollmentService::~EnrollmentService() {
  stop();
}

void EnrollmentService::stop() {
  impl_->host.stop();
}

void EnrollmentService::create(const Principal& creator, const EnrollmentTokenRequest& request,
                               const RequestContext& context,
                               std::function<void(Result<IssuedEnrollmentToken>)> done) {
  auto org = creation_org(creator, request.org);
  if (!org) return done(org.error());
  auto made = new_credential(kEnrollmentTokenPrefix);
  if (!made) return done(made.error());
  CreateEnrollmentToken command{request.name, *org, request.labels,
                                impl_->timers.now_ms() + request.expires_in_ms, request.max_uses,
                                made->secret_sha256};
  impl_->host.send(made->id, std::move(command), context,
                   [impl = impl_.get(), plaintext = std::move(made->plaintext),
                    done = std::move(done)](Result<runtime::Outcome<EnrollmentToken>> outcome) mutable {
                     if (!outcome) return done(outcome.error());
                     auto issued = std::make_shared<IssuedEnrollmentToken>(
                         IssuedEnrollmentToken{outcome->state, std::move(plaintext), outcome->position});
                     once_folded(impl->when_folded, issued->position,
                                 [issued, done = std::move(done)] { done(std::move(*issued)); });
                   });
}

void EnrollmentService::revoke(const Principal& caller, const std::string& token_id, const RequestContext& context,
                               std::function<void(Result<std::uint64_t>)> done) {
  const auto token = impl_->access.enrollment_token(token_id);
  revoke_record<RevokeEnrollmentToken>(impl_->host, caller, token_id,
                                       token ? std::optional<std::string>(token->org) : std::nullopt,
                                       {"enrollment token", "ENROLLMENT_TOKEN", "INVALID_TOKEN_ID"}, context,
                                       impl_->when_folded, std::move(done));
}

std::vector<EnrollmentToken> EnrollmentService::list(const Principal& caller) const {
  std::vector<EnrollmentToken> visible;
  for (EnrollmentToken& token : impl_->access.enrollment_tokens()) {
    if (org_visible(caller.org, token.org)) visible.push_back(std::move(token));
  }
  return visible;
}

std::optional<EnrollmentGrant> EnrollmentService::check(std::string_view plaintext) const {
  return impl_->access.check_enrollment(plaintext, impl_->timers.now_ms());
}

std::size_t EnrollmentService::active_actors() const {
  return impl_->host.active();
}

namespace {

std::function<void(Result<runtime::Outcome<EnrollmentToken>>)> token_after(
    std::function<void(Result<EnrollmentToken>)> done) {
  return [done = std::move(done)](Result<runtime::Outcome<EnrollmentToken>> outcome) {
    if (!outcome) return done(outcome.error());
    done(std::move(outcome->state));
  };
}

}  // namespace

void EnrollmentService::use(const EnrollmentGrant& grant, const AgentId& agent_id, const std::string& instance_id,
                            const RequestContext& context, std::function<void(Result<EnrollmentToken>)> done) {
  impl_->host.send(grant.token_id, UseEnrollmentToken{grant.secret_sha256, agent_id, instance_id}, context,
                   token_after(std::move(done)));
}

void EnrollmentService::reuse(const EnrollmentGrant& grant, const RequestContext& context,
                              std::function<void(Result<EnrollmentToken>)> done) {
  impl_->host.send(grant.token_id, ReuseEnrollmentToken{grant.secret_sha256}, context, token_after(std::move(done)));
}

}  // namespace muster
