#pragma once
/// Line-by-line differences between two texts, printed as `diff -u` prints them: how a config
/// changed from one version to the next.

#include <cstddef>
#include <string>
#include <string_view>

namespace muster {

/// The differences between `before` and `after`, texts split into lines at '\n', as a unified diff
/// (what `diff -u` prints): "--- <before_label>\n+++ <after_label>\n" then hunks "@@ -l,s +l,s @@"
/// with `context` lines of context around changes. Empty when the texts are equal.
///
/// The hunks are GNU diff's: changes at most 2 * `context` unchanged lines apart share a hunk; a
/// range of one line is written without its count ("@@ -3 +3 @@"), an empty range as the number of
/// the line before it and ",0" ("@@ -0,0 +1,2 @@" for lines added to an empty text); within a
/// change the removed lines come before the added ones. A last line without a trailing newline
/// differs from the same line with one, and is followed by "\ No newline at end of file" as diff
/// does. The labels are written as given, with no timestamps.
///
/// The diff is minimal (fewest added plus removed lines) whenever at most about 10,000 lines must
/// change, not counting lines found in only one of the texts, which can never match. Past that,
/// or on inputs whose search would take too long, it becomes coarser (some unchanged lines may be
/// shown as removed and added again) but stays correct: applying it to `before` gives `after`.
/// The cost is bounded: memory is linear in the input, and the search stops after a fixed number
/// of steps (a few seconds at most on one core, for texts of a few MiB whose lines keep repeating;
/// well under a second for ordinary config changes or for texts that share no lines).
///
/// Never throws (allocation failure ends the process); thread-safe: it keeps no state.
[[nodiscard]] std::string unified_diff(std::string_view before, std::string_view after,
                                       std::string_view before_label, std::string_view after_label,
                                       std::size_t context = 3) noexcept;

}  // namespace muster
