#include "actors/runtime/stream_id.hpp"

namespace muster {

std::string stream_name(std::string_view kind, std::string_view id) {
  std::string name;
  name.reserve(kind.size() + 1 + id.size());
  name.append(kind).append(1, ':').append(id);
  return name;
}

std::optional<StreamRef> parse_stream(std::string_view stream) {
  const auto colon = stream.find(':');
  if (colon == std::string_view::npos) {
    if (stream.empty()) return std::nullopt;
    return StreamRef{kAgentKind, stream};
  }
  if (colon == 0 || colon + 1 == stream.size()) return std::nullopt;
  return StreamRef{stream.substr(0, colon), stream.substr(colon + 1)};
}

std::optional<std::string_view> stream_id_of(std::string_view stream, std::string_view kind) {
  const auto parsed = parse_stream(stream);
  if (!parsed || parsed->kind != kind) return std::nullopt;
  return parsed->id;
}

std::string org_scoped_id(std::string_view org, std::string_view name) {
  std::string id;
  id.reserve(org.size() + 1 + name.size());
  id.append(org).append(1, '/').append(name);
  return id;
}

std::optional<OrgScopedName> split_org_scoped_id(std::string_view id) {
  const auto slash = id.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == id.size()) return std::nullopt;
  return OrgScopedName{id.substr(0, slash), id.substr(slash + 1)};
}

}  // namespace muster
