#pragma once
/// Percent-encoding (RFC 3986 section 2.1) for what muster's clients put in
/// a URL: query values and path segments.
///
/// Thread-safe: a pure function.

#include <string>
#include <string_view>

namespace muster {

/// `text` with every byte but the unreserved characters (A-Z a-z 0-9 - _ . ~)
/// written as %XX (uppercase hex), so it reads back as itself in any query
/// value or path segment.
std::string url_encode(std::string_view text);

}  // namespace muster
