#pragma once
/// An API key's commands and decisions, and the key as the runtime runs it.

#include <string>
#include <variant>
#include <vector>

#include "actors/api_key/api_key_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

struct CreateApiKey {
  std::string name;
  Role role = Role::viewer;
  std::string org{kAllOrgs};
  Sha256 secret_sha256{};
};
struct RevokeApiKey {};
using ApiKeyCommand = std::variant<CreateApiKey, RevokeApiKey>;

/// ApiKeyCreated; refused with `conflict` if the key exists (ids are random:
/// only a retried creation can meet one).
Result<std::vector<ApiKeyEvent>> decide_create(const ApiKey& key, const CreateApiKey& command);
/// ApiKeyRevoked. Refused: `not_found` / API_KEY_NOT_FOUND, `conflict` / API_KEY_REVOKED.
Result<std::vector<ApiKeyEvent>> decide_revoke(const ApiKey& key);

struct ApiKeyAggregate {
  static constexpr std::string_view kKind = kApiKeyKind;
  using State = ApiKey;
  using Payload = ApiKeyEvent;
  using Command = ApiKeyCommand;
  using Context = runtime::DecideContext;

  static State initial_state(const std::string& id) {
    ApiKey key;
    key.key_id = id;
    return key;
  }
  static std::string stream_of(const State& state) { return stream_name(kKind, state.key_id); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
