#include "projections/access_projection.hpp"

#include <mutex>

#include "actors/agent_events.hpp"
#include "actors/credential_records.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

template <class Record>
std::optional<Record> find_in(const std::map<std::string, Record>& records, const std::string& id) {
  const auto found = records.find(id);
  if (found == records.end()) return std::nullopt;
  return found->second;
}

template <class Record>
std::vector<Record> all_of(const std::map<std::string, Record>& records) {
  std::vector<Record> all;
  all.reserve(records.size());
  for (const auto& entry : records) all.push_back(entry.second);
  return all;
}

}  // namespace

Status AccessProjection::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    position_ = event.position;
    Status folded;
    if (const auto key_id = record_id_of(event.stream, kApiKeyStreamPrefix)) {
      folded = muster::apply(keys_by_id_[*key_id], event);
    } else if (const auto token_id = record_id_of(event.stream, kEnrollmentStreamPrefix)) {
      folded = muster::apply(tokens_by_id_[*token_id], event);
    } else if (const auto used = agent_events::enrollment_token_of(event)) {
      count_use(*used, event.position);
    }
    if (!folded && first_failure.ok()) first_failure = folded;
  }
  return first_failure;
}

void AccessProjection::count_use(const std::string& token_id, std::uint64_t position) {
  const auto token = tokens_by_id_.find(token_id);
  if (token == tokens_by_id_.end()) return;
  ++token->second.uses;
  const auto settled = settled_positions_.find(token_id);
  if (settled != settled_positions_.end() && settled->second.erase(position) > 0) {
    --uses_in_flight_[token_id];
  }
}

std::optional<Principal> AccessProjection::authenticate(std::string_view plaintext) const {
  const auto presented = read_credential(plaintext, kApiKeyPrefix);
  if (!presented) return std::nullopt;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = keys_by_id_.find(presented->id);
  if (found == keys_by_id_.end() || found->second.revoked ||
      !constant_time_equal(presented->secret_sha256, found->second.secret_sha256)) {
    return std::nullopt;
  }
  return Principal{found->second.key_id, found->second.role, found->second.org};
}

std::optional<EnrollmentGrant> AccessProjection::admit_enrollment(std::string_view plaintext, TimeMs now_ms) {
  const auto presented = read_credential(plaintext, kEnrollmentTokenPrefix);
  if (!presented) return std::nullopt;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  const auto found = tokens_by_id_.find(presented->id);
  if (found == tokens_by_id_.end() ||
      !constant_time_equal(presented->secret_sha256, found->second.secret_sha256)) {
    return std::nullopt;
  }
  const EnrollmentToken& token = found->second;
  std::uint64_t& in_flight = uses_in_flight_[token.token_id];
  if (why_closed(token, now_ms, in_flight)) return std::nullopt;
  EnrollmentGrant grant{token.token_id, token.org, token.labels, token.max_uses.has_value()};
  if (grant.reserved) ++in_flight;
  return grant;
}

void AccessProjection::settle_enrollment(const EnrollmentGrant& grant,
                                         std::optional<std::uint64_t> position) {
  if (!grant.reserved) return;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  // Folded already (or failed): the count no longer needs the reservation.
  if (!position || *position <= position_) {
    --uses_in_flight_[grant.token_id];
    return;
  }
  settled_positions_[grant.token_id].insert(*position);
}

std::vector<ApiKey> AccessProjection::keys() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return all_of(keys_by_id_);
}

std::optional<ApiKey> AccessProjection::key(const std::string& key_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return find_in(keys_by_id_, key_id);
}

bool AccessProjection::has_keys() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return !keys_by_id_.empty();
}

std::vector<EnrollmentToken> AccessProjection::enrollment_tokens() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return all_of(tokens_by_id_);
}

std::optional<EnrollmentToken> AccessProjection::enrollment_token(const std::string& token_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return find_in(tokens_by_id_, token_id);
}

}  // namespace muster
