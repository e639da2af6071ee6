#include "actors/enrollment/enrollment_token_decider.hpp"

#include <fmt/format.h>

namespace muster {

Result<std::vector<EnrollmentEvent>> decide_create(const EnrollmentToken& token,
                                                   const CreateEnrollmentToken& command) {
  if (token.version != 0) {
    return make_error(ErrorCode::conflict, "this enrollment token exists already", "ENROLLMENT_TOKEN_EXISTS");
  }
  return std::vector<EnrollmentEvent>{EnrollmentTokenCreated{token.token_id, command.name, command.org,
                                                             command.labels, command.expires_at_ms,
                                                             command.max_uses, command.secret_sha256}};
}

namespace {

// Refuses an unknown token or a wrong secret, then a token `why` says is closed.
Status check_token(const EnrollmentToken& token, const Sha256& secret_sha256,
                   const std::optional<std::string_view>& why) {
  // Both checks run, so the time taken does not tell an unknown token from a wrong secret.
  const bool matches = constant_time_equal(secret_sha256, token.secret_sha256);
  if (token.version == 0 || !matches) {
    return make_error(ErrorCode::unauthenticated,
                      "registration needs a live enrollment token: Authorization: Bearer <enrollment token>",
                      kInvalidEnrollmentToken);
  }
  if (why) {
    return make_error(ErrorCode::unauthenticated, fmt::format("the enrollment token is {}", *why),
                      kInvalidEnrollmentToken);
  }
  return Status::success();
}

}  // namespace

Result<std::vector<EnrollmentEvent>> decide_use(const EnrollmentToken& token, const UseEnrollmentToken& command,
                                                TimeMs now_ms) {
  if (Status open = check_token(token, command.secret_sha256, why_closed(token, now_ms)); !open) {
    return open.error();
  }
  return std::vector<EnrollmentEvent>{EnrollmentTokenUsed{command.agent_id, command.instance_id}};
}

Result<std::vector<EnrollmentEvent>> decide_reuse(const EnrollmentToken& token,
                                                  const ReuseEnrollmentToken& command, TimeMs now_ms) {
  if (Status live = check_token(token, command.secret_sha256, why_dead(token, now_ms)); !live) {
    return live.error();
  }
  return std::vector<EnrollmentEvent>{};
}

Result<std::vector<EnrollmentEvent>> decide_revoke(const EnrollmentToken& token) {
  if (token.version == 0) {
    return make_error(ErrorCode::not_found, "no enrollment token with this id", "ENROLLMENT_TOKEN_NOT_FOUND");
  }
  if (token.revoked) {
    return make_error(ErrorCode::conflict, "this enrollment token is already revoked", "ENROLLMENT_TOKEN_REVOKED");
  }
  return std::vector<EnrollmentEvent>{EnrollmentTokenRevoked{}};
}

Result<std::vector<EnrollmentEvent>> EnrollmentAggregate::decide(const State& state, const Command& command,
                                                                 Context& context) {
  return std::visit(
      [&](const auto& typed) -> Result<std::vector<EnrollmentEvent>> {
        using Typed = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<Typed, CreateEnrollmentToken>) {
          return decide_create(state, typed);
        } else if constexpr (std::is_same_v<Typed, UseEnrollmentToken>) {
          return decide_use(state, typed, context.now_ms);
        } else if constexpr (std::is_same_v<Typed, ReuseEnrollmentToken>) {
          return decide_reuse(state, typed, context.now_ms);
        } else {
          return decide_revoke(state);
        }
      },
      command);
}

}  // namespace muster
