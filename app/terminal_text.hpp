#pragma once
/// Text from the event log made safe to print on an auditor's terminal.
///
/// Anything in the log may come from a hostile agent (a hostname, a version,
/// a label). Printed raw, control characters move the cursor, end or
/// overwrite lines, or start escape sequences, and Unicode's line separators
/// and bidirectional controls break or reorder what is shown, so a forged
/// line or a reversed name could pass for real. These functions write every
/// such character as a visible escape instead; everything else, non-ASCII
/// letters included, is kept as is.
///
/// Escaped, as `\uXXXX` (lowercase hex): C0 controls U+0000 to U+001F,
/// DEL U+007F, C1 controls U+0080 to U+009F, U+2028 LINE SEPARATOR,
/// U+2029 PARAGRAPH SEPARATOR, and the bidirectional controls U+061C,
/// U+200E, U+200F, U+202A to U+202E and U+2066 to U+2069. A byte that is not
/// part of valid UTF-8 is written as `\xNN`.
///
/// Thread-safe: pure functions.

#include <string>
#include <string_view>

namespace muster::app {

/// `json_text` (a JSON document as stored) with the characters above
/// escaped. Inside JSON strings `\uXXXX` is JSON's own escape and a literal
/// backslash is already `\\`, so valid JSON stays valid, means the same, and
/// an escape shown can never be mistaken for one typed by the agent.
std::string terminal_safe_json(std::string_view json_text);

/// `text` (plain, not JSON) with the characters above escaped and each
/// backslash doubled, so that a `\u` shown is always an escape.
std::string terminal_safe_text(std::string_view text);

}  // namespace muster::app
