#pragma once
/// Organizations (tenants). Agents, enrollment tokens and API keys each belong
/// to one; an API key may instead be unscoped ("*") and see every one.

#include <string>
#include <string_view>

#include "common/interned.hpp"

namespace muster {

/// The organization of whatever is made without naming one.
inline constexpr std::string_view kDefaultOrg = "default";
/// An API key's scope that covers every organization.
inline constexpr std::string_view kAllOrgs = "*";

/// `kDefaultOrg`, interned once.
inline InternedString default_org() {
  static const InternedString org = InternedString::of(std::string(kDefaultOrg));
  return org;
}

/// True if a caller scoped to `scope` may see what belongs to `org`.
inline bool org_visible(std::string_view scope, std::string_view org) {
  return scope == kAllOrgs || scope == org;
}

}  // namespace muster
