#pragma once
/// The caller behind an operator request, and the rules of organizations
/// that every operator service applies the same way.

#include <optional>
#include <string>

#include "actors/api_key/api_key_state.hpp"
#include "actors/organization.hpp"
#include "common/result.hpp"

namespace muster {

/// The caller behind a request's API key.
struct Principal {
  std::string key_id;
  Role role = Role::viewer;
  std::string org{kAllOrgs};  ///< The organization the key may see, or "*".
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
