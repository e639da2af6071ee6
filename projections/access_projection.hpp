#pragma once
/// Who may call the API: every API key folded from the log, looked up per
/// request in memory (one SHA-256 and a constant-time compare; no store read).
///
/// Thread-safe: one writer (the runner) and many readers (HTTP handlers).

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/access.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

/// The caller behind a request's credentials.
struct Principal {
  std::string key_id;
  Role role = Role::viewer;
  std::string org;  ///< Empty: every organization.
};

class AccessProjection {
 public:
  /// Folds the events of "apikey:" streams in `batch`; ignores the rest.
  /// Returns the first failure, applying what it can.
  Status apply(const std::vector<Event>& batch);

  /// The principal of a live (unrevoked) key given as plaintext, if any.
  std::optional<Principal> authenticate(std::string_view plaintext) const;

  /// Every key ever made, in key id order.
  std::vector<ApiKey> keys() const;

  bool has_keys() const;

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, ApiKey> keys_by_id_;
};

}  // namespace muster
