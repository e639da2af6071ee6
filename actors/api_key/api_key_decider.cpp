#include "actors/api_key/api_key_decider.hpp"

namespace muster {

Result<std::vector<ApiKeyEvent>> decide_create(const ApiKey& key, const CreateApiKey& command) {
  if (key.version != 0) return make_error(ErrorCode::conflict, "this API key exists already", "API_KEY_EXISTS");
  return std::vector<ApiKeyEvent>{
      ApiKeyCreated{key.key_id, command.name, command.role, command.org, command.secret_sha256}};
}

Result<std::vector<ApiKeyEvent>> decide_revoke(const ApiKey& key) {
  if (key.version == 0) return make_error(ErrorCode::not_found, "no API key with this id", "API_KEY_NOT_FOUND");
  if (key.revoked) return make_error(ErrorCode::conflict, "this API key is already revoked", "API_KEY_REVOKED");
  return std::vector<ApiKeyEvent>{ApiKeyRevoked{}};
}

Result<std::vector<ApiKeyEvent>> ApiKeyAggregate::decide(const State& state, const Command& command,
                                                         Context& /*context*/) {
  if (const auto* create = std::get_if<CreateApiKey>(&command)) return decide_create(state, *create);
  return decide_revoke(state);
}

}  // namespace muster
