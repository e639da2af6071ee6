#pragma once
/// What this binary is: `muster version` and GET /api/v1/version print it.

#include <string>

namespace muster {

struct BuildInfo {
  std::string version;  ///< The project's version (CMakeLists.txt `project(... VERSION)`).
  /// The git commit built (12 hex digits, "-modified" when the tree had
  /// uncommitted changes), or "unknown" outside a git checkout.
  std::string commit;
};

/// Generated at build time (cmake/build_info.cmake).
const BuildInfo& build_info();

}  // namespace muster
