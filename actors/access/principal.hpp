#pragma once
/// The caller behind an operator request, and the rules of organizations
/// that every operator service applies the same way.

#include <optional>
#include <string>

#include "actors/api_key/api_key_state.hpp"
#include "actors/organization.hpp"
#include "common/result.hpp"

namespace muster {

/// The caller behind an operator request: an API key, or a user signed in
/// (actors/user/user_state.hpp) with the role and organization the user has now.
struct Principal {
  std::string key_id;         ///< The API key's id; empty for a user.
  Role role = Role::viewer;
  std::string org{kAllOrgs};  ///< The organization the caller may see, or "*".
  std::string username{};     ///< The user signed in; empty for an API key.

  /// Who the events this caller causes name: "key:<id>" or "user:<name>".
  std::string label() const { return username.empty() ? "key:" + key_id : "user:" + username; }
};

/// The organization something `creator` makes goes to: the one `wanted`
/// (default "default") for an unscoped creator; the creator's own for a
/// scoped one, which may not name another (`permission_denied` / FORBIDDEN).
Result<std::string> creation_org(const Principal& creator, const std::optional<std::string>& wanted);

/// True if `caller` may see what belongs to `org` (nullopt: unknown, so never).
inline bool visible_to(const Principal& caller, const std::optional<std::string>& org) {
  return org && org_visible(caller.org, *org);
}

}  // namespace muster
