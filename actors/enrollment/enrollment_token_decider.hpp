#pragma once
/// An enrollment token's commands and decisions, and the token as the
/// runtime runs it. Each registration it admits is a use decided here, by
/// the token's one actor, so `max_uses` holds however many registrations race.

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

inline constexpr const char* kInvalidEnrollmentToken = "INVALID_ENROLLMENT_TOKEN";

struct CreateEnrollmentToken {
  std::string name;
  std::string org{kDefaultOrg};
  std::map<std::string, std::string> labels;
  TimeMs expires_at_ms = 0;
  std::optional<std::uint64_t> max_uses;
  Sha256 secret_sha256{};
};
/// Admits one registration of `instance_id` as `agent_id`, if `secret_sha256`
/// is the token's and it is open (unrevoked, unexpired, not used up).
struct UseEnrollmentToken {
  Sha256 secret_sha256{};
  AgentId agent_id;
  std::string instance_id;
};
/// Admits a known instance registering again: no use is recorded, so a
/// used-up token still lets the agents it enrolled back in, if
/// `secret_sha256` is the token's and it is live (unrevoked, unexpired).
struct ReuseEnrollmentToken {
  Sha256 secret_sha256{};
};
struct RevokeEnrollmentToken {};
using EnrollmentCommand =
    std::variant<CreateEnrollmentToken, UseEnrollmentToken, ReuseEnrollmentToken, RevokeEnrollmentToken>;

/// EnrollmentTokenCreated; `conflict` if the token exists.
Result<std::vector<EnrollmentEvent>> decide_create(const EnrollmentToken& token,
                                                   const CreateEnrollmentToken& command);
/// EnrollmentTokenUsed. Refused with `unauthenticated` / INVALID_ENROLLMENT_TOKEN
/// for an unknown token, a wrong secret, or a token closed at `now_ms`.
Result<std::vector<EnrollmentEvent>> decide_use(const EnrollmentToken& token, const UseEnrollmentToken& command,
                                                TimeMs now_ms);
/// Nothing (a re-registration spends no use). Refused like `decide_use`,
/// except that a used-up token is not closed for it.
Result<std::vector<EnrollmentEvent>> decide_reuse(const EnrollmentToken& token,
                                                  const ReuseEnrollmentToken& command, TimeMs now_ms);
/// EnrollmentTokenRevoked. Refused: `not_found` / ENROLLMENT_TOKEN_NOT_FOUND,
/// `conflict` / ENROLLMENT_TOKEN_REVOKED.
Result<std::vector<EnrollmentEvent>> decide_revoke(const EnrollmentToken& token);

struct EnrollmentAggregate {
  static constexpr std::string_view kKind = kEnrollmentKind;
  using State = EnrollmentToken;
  using Payload = EnrollmentEvent;
  using Command = EnrollmentCommand;
  using Context = runtime::DecideContext;

  static State initial_state(const std::string& id) {
    EnrollmentToken token;
    token.token_id = id;
    return token;
  }
  static std::string stream_of(const State& state) { return stream_name(kKind, state.token_id); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
  static std::string encode_state(const State& state) { return encode_enrollment_token(state); }
  static Result<State> decode_state(std::string_view bytes) { return decode_enrollment_token(bytes); }
};

}  // namespace muster
