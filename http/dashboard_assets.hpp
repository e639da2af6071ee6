#pragma once
/// The web dashboard's files (http/dashboard/), embedded in the binary at
/// build time: each through cmake/embed_text.cmake, all listed in one table
/// that CMakeLists.txt generates from its list of the dashboard's files, so
/// serving them reads no file and works offline. Constant data: safe from
/// any thread.

#include <string_view>

namespace muster::http {

struct DashboardAsset {
  std::string_view name;       ///< The file's name in http/dashboard/, e.g. "app.js".
  std::string_view (*text)();  ///< Its bytes, exactly as in the file.
};

/// The asset named `name`; null when the dashboard has none of that name.
const DashboardAsset* find_dashboard_asset(std::string_view name);

}  // namespace muster::http
