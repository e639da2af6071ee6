#include "projections/access_projection.hpp"

#include <mutex>

#include "common/secrets.hpp"

namespace muster {

Status AccessProjection::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    const std::string_view stream = event.stream;
    if (stream.substr(0, kApiKeyStreamPrefix.size()) != kApiKeyStreamPrefix) continue;
    ApiKey& key = keys_by_id_[std::string(stream.substr(kApiKeyStreamPrefix.size()))];
    if (Status folded = muster::apply(key, event); !folded && first_failure.ok()) first_failure = folded;
  }
  return first_failure;
}

std::optional<Principal> AccessProjection::authenticate(std::string_view plaintext) const {
  const auto parts = split_api_key(plaintext);
  if (!parts) return std::nullopt;
  const std::string presented = sha256_hex(parts->secret);
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = keys_by_id_.find(parts->key_id);
  if (found == keys_by_id_.end() || found->second.revoked ||
      !constant_time_equal(presented, found->second.secret_sha256)) {
    return std::nullopt;
  }
  return Principal{found->second.key_id, found->second.role, found->second.org};
}

std::vector<ApiKey> AccessProjection::keys() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<ApiKey> all;
  for (const auto& entry : keys_by_id_) all.push_back(entry.second);
  return all;
}

bool AccessProjection::has_keys() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return !keys_by_id_.empty();
}

}  // namespace muster
