#include "actors/access/principal.hpp"

#include <fmt/format.h>

namespace muster {

Result<std::string> creation_org(const Principal& creator, const std::optional<std::string>& wanted) {
  if (creator.org == kAllOrgs) return wanted.value_or(std::string(kDefaultOrg));
  if (!wanted || *wanted == creator.org) return creator.org;
  return make_error(ErrorCode::permission_denied,
                    fmt::format("a key scoped to '{}' can create only in that organization", creator.org),
                    "FORBIDDEN");
}

}  // namespace muster
