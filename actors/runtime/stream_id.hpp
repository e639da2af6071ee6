#pragma once
/// Stream ids: "<kind>:<id>", the kind naming the aggregate type ("agent",
/// "apikey", "enrollment"). Agents registered before kinds existed have
/// streams named by their bare UUID; those read as kind "agent", so existing
/// data directories open unchanged.

#include <optional>
#include <string>
#include <string_view>

namespace muster {

inline constexpr std::string_view kAgentKind = "agent";

/// A stream id taken apart; views into the id it was read from.
struct StreamRef {
  std::string_view kind;
  std::string_view id;
};

/// "<kind>:<id>".
std::string stream_name(std::string_view kind, std::string_view id);

/// Splits at the first ':'; a stream without one is a legacy agent stream
/// (kind "agent", id the whole stream). Nullopt for an empty stream, kind or id.
std::optional<StreamRef> parse_stream(std::string_view stream);

/// The id if `stream` is of `kind`; nullopt otherwise.
std::optional<std::string_view> stream_id_of(std::string_view stream, std::string_view kind);

/// The id of something named within an organization (a config, a group):
/// "<org>/<name>" (organization names hold no '/').
std::string org_scoped_id(std::string_view org, std::string_view name);

/// An org-scoped id taken apart; views into `id`.
struct OrgScopedName {
  std::string_view org;
  std::string_view name;
};
/// Splits at the first '/'; nullopt without one, or with an empty org or name.
std::optional<OrgScopedName> split_org_scoped_id(std::string_view id);

}  // namespace muster
