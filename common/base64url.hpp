#pragma once
/// Base64url without padding (RFC 4648 section 5): the alphabet of tokens,
/// keys and cursors that travel in URLs and headers.

#include <optional>
#include <string>
#include <string_view>

namespace muster {

std::string base64url_encode(std::string_view bytes);

/// Nullopt if `text` has a character outside the alphabet.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace muster
