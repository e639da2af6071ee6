#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/unified_diff.hpp"
#include "tests/support/temp_dir.hpp"

using namespace muster;

static_assert(noexcept(unified_diff("", "", "", "")));

namespace {

std::string diff_ab(std::string_view before, std::string_view after, std::size_t context = 3) {
  return unified_diff(before, after, "A", "B", context);
}

// "1\n2\n...\n<last>\n".
std::string numbered_lines(int last) {
  std::string text;
  for (int line = 1; line <= last; ++line) text += std::to_string(line) + "\n";
  return text;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    const std::size_t length = newline == std::string_view::npos ? text.size() : newline + 1;
    lines.push_back(text.substr(0, length));
    text.remove_prefix(length);
  }
  return lines;
}

std::optional<std::size_t> read_number(std::string_view& text) {
  std::size_t digits = 0, value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    value = value * 10 + static_cast<std::size_t>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  text.remove_prefix(digits);
  return value;
}

bool read_literal(std::string_view& text, std::string_view literal) {
  if (text.substr(0, literal.size()) != literal) return false;
  text.remove_prefix(literal.size());
  return true;
}

struct HunkRange {
  std::size_t begin;  // 0-based index of the first line (of the line after, for an empty range)
  std::size_t count;
};

// "l" or "l,s": a range as a hunk header writes it.
std::optional<HunkRange> read_range(std::string_view& text) {
  const std::optional<std::size_t> start = read_number(text);
  if (!start) return std::nullopt;
  std::size_t count = 1;
  if (read_literal(text, ",")) {
    const std::optional<std::size_t> written_count = read_number(text);
    if (!written_count) return std::nullopt;
    count = *written_count;
  }
  if (count == 0) return HunkRange{*start, 0};
  if (*start == 0) return std::nullopt;
  return HunkRange{*start - 1, count};
}

// Applies a unified diff to `before` the strict way, with no fuzz and no offsets: each hunk must
// start exactly where its header says on both sides and hold exactly the lines it counts, and its
// context and removed lines must be those of `before`, newline or not. Nothing when the diff is
// malformed or does not fit. Written for these tests, independently of the code under test.
std::optional<std::string> apply_diff(std::string_view before, std::string_view diff) {
  if (diff.empty()) return std::string(before);
  const std::vector<std::string_view> diff_lines = lines_of(diff);
  if (diff_lines.size() < 3 || diff_lines[0].substr(0, 4) != "--- " || diff_lines[1].substr(0, 4) != "+++ ") {
    return std::nullopt;
  }
  const std::vector<std::string_view> old_lines = lines_of(before);
  std::string result;
  std::size_t old_at = 0, new_count = 0;
  std::size_t at = 2;
  while (at < diff_lines.size()) {
    std::string_view header = diff_lines[at++];
    if (!read_literal(header, "@@ -")) return std::nullopt;
    const std::optional<HunkRange> old_range = read_range(header);
    if (!old_range || !read_literal(header, " +")) return std::nullopt;
    const std::optional<HunkRange> new_range = read_range(header);
    if (!new_range || header != " @@\n") return std::nullopt;
    if (old_range->begin < old_at || old_range->begin > old_lines.size()) return std::nullopt;
    for (; old_at < old_range->begin; ++old_at, ++new_count) result += old_lines[old_at];
    if (new_range->begin != new_count) return std::nullopt;

    std::size_t old_seen = 0, new_seen = 0;
    while (old_seen < old_range->count || new_seen < new_range->count) {
      if (at >= diff_lines.size()) return std::nullopt;
      const std::string_view line = diff_lines[at++];
      if (line.size() < 2 || line.back() != '\n') return std::nullopt;
      std::string_view text = line.substr(1);
      if (at < diff_lines.size() && diff_lines[at] == "\\ No newline at end of file\n") {
        text.remove_suffix(1);
        ++at;
      }
      if (line[0] == ' ' || line[0] == '-') {
        if (old_at >= old_lines.size() || old_lines[old_at] != text) return std::nullopt;
        ++old_at;
        ++old_seen;
      }
      if (line[0] == ' ' || line[0] == '+') {
        result += text;
        ++new_count;
        ++new_seen;
      }
      if (line[0] != ' ' && line[0] != '-' && line[0] != '+') return std::nullopt;
    }
    if (old_seen != old_range->count || new_seen != new_range->count) return std::nullopt;
  }
  for (; old_at < old_lines.size(); ++old_at) result += old_lines[old_at];
  return result;
}

// Lines a diff removes or adds.
std::size_t count_changed_lines(std::string_view diff) {
  std::size_t changed = 0;
  const std::vector<std::string_view> lines = lines_of(diff);
  for (std::size_t at = 2; at < lines.size(); ++at) {
    if (lines[at][0] == '-' || lines[at][0] == '+') ++changed;
  }
  return changed;
}

void write_file(const std::string& path, std::string_view content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(content.data(), static_cast<std::streamsize>(content.size()));
  REQUIRE(file.good());
}

// What GNU diff prints for the same texts and context, labelled A and B; with `minimal`, what it prints
// when told to search for the fewest changed lines whatever the cost (--minimal).
std::string gnu_diff(const testing::TempDir& dir, std::string_view before, std::string_view after,
                     std::size_t context, bool minimal = false) {
  write_file(dir.file("before"), before);
  write_file(dir.file("after"), after);
  const std::string command = std::string("LC_ALL=C diff ") + (minimal ? "--minimal " : "") + "-U" +
                              std::to_string(context) + " --label A --label B '" + dir.file("before") +
                              "' '" + dir.file("after") + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, got);
  const int status = ::pclose(pipe);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) <= 1);  // 0: same, 1: different, 2: trouble
  return output;
}

// Fixed-seed draws; the standard distributions are left out because their results differ
// between standard libraries.
class Draws {
 public:
  explicit Draws(std::uint64_t seed) : engine_(seed) {}
  std::size_t below(std::size_t bound) { return static_cast<std::size_t>(engine_() % bound); }
  bool one_in(std::size_t odds) { return below(odds) == 0; }

 private:
  std::mt19937_64 engine_;
};

void maybe_drop_final_newline(Draws& draws, std::string& text) {
  if (!text.empty() && draws.one_in(4)) text.pop_back();
}

struct TextPair {
  std::string before;
  std::string after;
};

// Every line appears once in its text and the edits never reorder lines, so the lines both texts
// share can be paired in one way only, and the diff is fully determined.
TextPair unique_lines_pair(Draws& draws) {
  TextPair pair;
  std::size_t fresh = 0;
  const std::size_t length = draws.below(40);
  for (std::size_t line = 0; line < length; ++line) {
    const std::string text = "line " + std::to_string(line) + "\n";
    pair.before += text;
    if (draws.one_in(10)) pair.after += "new " + std::to_string(fresh++) + "\n";
    if (draws.one_in(12)) continue;  // removed
    pair.after += draws.one_in(12) ? "changed " + std::to_string(fresh++) + "\n" : text;
  }
  if (draws.one_in(5)) pair.after += "new " + std::to_string(fresh++) + "\n";
  maybe_drop_final_newline(draws, pair.before);
  maybe_drop_final_newline(draws, pair.after);
  return pair;
}

// Config-like texts made of a few lines repeated over and over: many alignments are equally short.
TextPair repeated_lines_pair(Draws& draws) {
  static const char* const kPool[] = {"server {\n",     "}\n",     "\n", "  enabled: true\n",
                                      "  port: 8080\n", "# note\n"};
  const auto pool_line = [&draws] { return std::string(kPool[draws.below(std::size(kPool))]); };
  std::vector<std::string> before(draws.below(50));
  for (std::string& line : before) line = pool_line();
  std::vector<std::string> after;
  if (draws.one_in(3)) {
    after.resize(draws.below(50));
    for (std::string& line : after) line = pool_line();
  } else {
    after = before;
    for (std::size_t edit = draws.below(10) + 1; edit > 0; --edit) {
      const std::size_t at = draws.below(after.size() + 1);
      const std::size_t kind = draws.below(3);
      if (kind == 0 && at < after.size()) {
        after.erase(after.begin() + static_cast<std::ptrdiff_t>(at));
      } else if (kind == 1 || at == after.size()) {
        after.insert(after.begin() + static_cast<std::ptrdiff_t>(at), pool_line());
      } else {
        after[at] = pool_line();
      }
    }
  }
  TextPair pair;
  for (const std::string& line : before) pair.before += line;
  for (const std::string& line : after) pair.after += line;
  maybe_drop_final_newline(draws, pair.before);
  maybe_drop_final_newline(draws, pair.after);
  return pair;
}

std::size_t context_for_case(std::size_t index) {
  static const std::size_t kContexts[] = {3, 3, 3, 0, 1, 2, 5};
  return kContexts[index % std::size(kContexts)];
}

}  // namespace

SCENARIO("equal texts have no diff") {
  CHECK(diff_ab("", "") == "");
  CHECK(diff_ab("a\nb\n", "a\nb\n") == "");
  CHECK(diff_ab("a\nno newline", "a\nno newline") == "");
  CHECK(diff_ab("a\n", "a\n", 0) == "");
}

SCENARIO("a diff of a line added, removed or changed at the start, in the middle or at the end") {
  GIVEN("nine numbered lines") {
    const std::string text = numbered_lines(9);
    const std::string header = "--- A\n+++ B\n";
    WHEN("a line is added") {
      THEN("the hunk shows it with up to three lines of context each side") {
        CHECK(diff_ab(text, "new\n" + text) == header + "@@ -1,3 +1,4 @@\n+new\n 1\n 2\n 3\n");
        CHECK(diff_ab(text, numbered_lines(5) + "new\n6\n7\n8\n9\n") ==
              header + "@@ -3,6 +3,7 @@\n 3\n 4\n 5\n+new\n 6\n 7\n 8\n");
        CHECK(diff_ab(text, text + "new\n") == header + "@@ -7,3 +7,4 @@\n 7\n 8\n 9\n+new\n");
      }
    }
    WHEN("a line is removed") {
      THEN("the hunk shows it removed") {
        CHECK(diff_ab(text, text.substr(2)) == header + "@@ -1,4 +1,3 @@\n-1\n 2\n 3\n 4\n");
        CHECK(diff_ab(text, numbered_lines(4) + "6\n7\n8\n9\n") ==
              header + "@@ -2,7 +2,6 @@\n 2\n 3\n 4\n-5\n 6\n 7\n 8\n");
        CHECK(diff_ab(text, numbered_lines(8)) == header + "@@ -6,4 +6,3 @@\n 6\n 7\n 8\n-9\n");
      }
    }
    WHEN("a line is changed") {
      THEN("the old line comes first, then the new one") {
        CHECK(diff_ab(text, "one\n" + text.substr(2)) == header + "@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n");
        CHECK(diff_ab(text, numbered_lines(4) + "five\n6\n7\n8\n9\n") ==
              header + "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
        CHECK(diff_ab(text, numbered_lines(8) + "nine\n") ==
              header + "@@ -6,4 +6,4 @@\n 6\n 7\n 8\n-9\n+nine\n");
      }
    }
    WHEN("there is no context") {
      THEN("an empty range names the line before it") {
        CHECK(diff_ab(text, numbered_lines(2) + "new\n" + text.substr(4), 0) ==
              header + "@@ -2,0 +3 @@\n+new\n");
        CHECK(diff_ab(text, numbered_lines(2) + text.substr(6), 0) == header + "@@ -3 +2,0 @@\n-3\n");
        CHECK(diff_ab(text, "new\n" + text, 0) == header + "@@ -0,0 +1 @@\n+new\n");
        CHECK(diff_ab(text, text.substr(2), 0) == header + "@@ -1 +0,0 @@\n-1\n");
      }
    }
  }
}

SCENARIO("a last line without a newline differs from the same line with one, and is marked") {
  const std::string marker = "\\ No newline at end of file\n";
  CHECK(diff_ab("a\nb", "a\nb\n") == "--- A\n+++ B\n@@ -1,2 +1,2 @@\n a\n-b\n" + marker + "+b\n");
  CHECK(diff_ab("a\nb\n", "a\nb") == "--- A\n+++ B\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n" + marker);
  CHECK(diff_ab("a\nb", "x\nb") == "--- A\n+++ B\n@@ -1,2 +1,2 @@\n-a\n+x\n b\n" + marker);
  CHECK(diff_ab("a", "b") == "--- A\n+++ B\n@@ -1 +1 @@\n-a\n" + marker + "+b\n" + marker);
}

SCENARIO("a diff from or to an empty text") {
  CHECK(diff_ab("", "x\ny\n") == "--- A\n+++ B\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  CHECK(diff_ab("x\ny\n", "") == "--- A\n+++ B\n@@ -1,2 +0,0 @@\n-x\n-y\n");
  CHECK(diff_ab("", "x") == "--- A\n+++ B\n@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n");
  CHECK(diff_ab("", "\n") == "--- A\n+++ B\n@@ -0,0 +1 @@\n+\n");
}

SCENARIO("changes whose context lines would meet share one diff hunk") {
  GIVEN("twenty numbered lines") {
    const std::string text = numbered_lines(20);
    WHEN("two changes are 2 * context lines apart") {
      const std::string after = "1\n2\nX\n4\n5\n6\n7\n8\n9\nY\n" + text.substr(text.find("11\n"));
      THEN("one hunk holds both") {
        CHECK(diff_ab(text, after) ==
              "--- A\n+++ B\n@@ -1,13 +1,13 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n 7\n 8\n 9\n-10\n+Y\n 11\n 12\n "
              "13\n");
      }
    }
    WHEN("they are one line further apart") {
      const std::string after = "1\n2\nX\n4\n5\n6\n7\n8\n9\n10\nY\n" + text.substr(text.find("12\n"));
      THEN("each has its own hunk") {
        CHECK(diff_ab(text, after) ==
              "--- A\n+++ B\n@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n"
              "@@ -8,7 +8,7 @@\n 8\n 9\n 10\n-11\n+Y\n 12\n 13\n 14\n");
        CHECK(diff_ab(text, after, 0) == "--- A\n+++ B\n@@ -3 +3 @@\n-3\n+X\n@@ -11 +11 @@\n-11\n+Y\n");
        CHECK(diff_ab(text, after, 4) ==
              "--- A\n+++ B\n@@ -1,15 +1,15 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n 7\n 8\n 9\n 10\n-11\n+Y\n"
              " 12\n 13\n 14\n 15\n");
      }
    }
  }
}

TEST_CASE("the labels head the diff as given") {
  CHECK(unified_diff("a\n", "b\n", "config v1", "config v2") ==
        "--- config v1\n+++ config v2\n@@ -1 +1 @@\n-a\n+b\n");
}

TEST_CASE("the diff shows a change that could sit on several equal lines where a person would put it") {
  CHECK(diff_ab("a {\n}\n", "a {\n}\nb {\n}\n") == "--- A\n+++ B\n@@ -1,2 +1,4 @@\n a {\n }\n+b {\n+}\n");
  CHECK(diff_ab("x\ny\n}\n", "x\n}\ny\n}\n") == "--- A\n+++ B\n@@ -1,3 +1,4 @@\n x\n+}\n y\n }\n");
}

// Among equally short diffs, GNU diff's (3.8's outputs here) removes lines before it adds them, and
// slides a change over equal lines to meet a change in the other text.
TEST_CASE("the diff picks, among equally short ones, the one GNU diff prints") {
  CHECK(diff_ab("x\nx\na\n\nb\n", "a\nb\na\nx\n\nb\n") ==
        "--- A\n+++ B\n@@ -1,5 +1,6 @@\n-x\n-x\n a\n+b\n+a\n+x\n \n b\n");
  CHECK(diff_ab("\na\nb\nx\nx\n", "\nb\na\na\n") ==
        "--- A\n+++ B\n@@ -1,5 +1,4 @@\n \n-a\n b\n-x\n-x\n+a\n+a\n");
  CHECK(diff_ab("x\nx\na\nx\n", "a\nx\nx\nx\n\nx\n") ==
        "--- A\n+++ B\n@@ -1,4 +1,6 @@\n+a\n x\n x\n-a\n+x\n+\n x\n");
  CHECK(diff_ab("x\n\nb\nb\n", "\n\nb\nb\na\n") == "--- A\n+++ B\n@@ -1,4 +1,5 @@\n-x\n+\n \n b\n b\n+a\n");
}

// The oracle is GNU diff itself, run on the same texts. Where the lines both texts share can be
// paired only one way, the diff is fully determined and must match diff's output byte for byte.
TEST_CASE("the diff is GNU diff's, byte for byte, when the shared lines pair up one way only") {
  const testing::TempDir dir;
  Draws draws(20240611);
  for (std::size_t index = 0; index < 200; ++index) {
    const TextPair pair = unique_lines_pair(draws);
    const std::size_t context = context_for_case(index);
    CAPTURE(index);
    CAPTURE(context);
    CAPTURE(pair.before);
    CAPTURE(pair.after);
    CHECK(diff_ab(pair.before, pair.after, context) == gnu_diff(dir, pair.before, pair.after, context));
  }
}

// With lines that repeat, several alignments are equally short, and GNU diff's choice among them
// follows its own search order, which this implementation does not copy. So the oracle is: either
// the same output as `diff -u`, or a diff that applies exactly (the strict applier above: no fuzz,
// no offsets) and removes plus adds as many lines as `diff --minimal`. The count comes from
// --minimal rather than plain -u because plain diff's speed heuristics (it sets aside lines that
// look like noise) sometimes cost it a line or two on such texts; then ours is the shorter one.
TEST_CASE("with repeated lines the diff applies exactly and is as short as GNU diff's minimal one") {
  const testing::TempDir dir;
  Draws draws(77);
  std::size_t identical = 0;
  const std::size_t cases = 300;
  for (std::size_t index = 0; index < cases; ++index) {
    const TextPair pair = repeated_lines_pair(draws);
    const std::size_t context = context_for_case(index);
    CAPTURE(index);
    CAPTURE(context);
    CAPTURE(pair.before);
    CAPTURE(pair.after);
    const std::string ours = diff_ab(pair.before, pair.after, context);
    CHECK(apply_diff(pair.before, ours) == std::optional<std::string>(pair.after));
    if (ours == gnu_diff(dir, pair.before, pair.after, context)) {
      ++identical;
    } else {
      CHECK(count_changed_lines(ours) ==
            count_changed_lines(gnu_diff(dir, pair.before, pair.after, context, /*minimal=*/true)));
    }
  }
  // Nearly all still come out identical (296 of 300 when written): the search prefers removing before
  // adding and slides changes over equal lines as diff does. Only a broken convention falls below half.
  CHECK(identical * 2 > cases);
}

TEST_CASE("a 2 MiB text replaced by completely different content gives a correct diff") {
  std::string before, after;
  for (std::size_t line = 0; before.size() < (2u << 20); ++line) {
    before += "before " + std::to_string(line) + " " + std::to_string(line * 2654435761u % 1000003) + "\n";
  }
  for (std::size_t line = 0; after.size() < (2u << 20); ++line) {
    after += "after " + std::to_string(line * 7919 % 1000003) + "\n";
  }
  const std::string diff = diff_ab(before, after);
  CHECK(apply_diff(before, diff) == std::optional<std::string>(after));
  CHECK(count_changed_lines(diff) == lines_of(before).size() + lines_of(after).size());
}

TEST_CASE(
    "a 2 MiB rewrite of a few repeated lines needs too many edits for an exact diff, and still applies") {
  static const char* const kPool[] = {"}\n", "\n", "  enabled: true\n", "  port: 8080\n"};
  Draws draws(5);
  std::string before, after;
  while (before.size() < (2u << 20)) before += kPool[draws.below(std::size(kPool))];
  while (after.size() < (2u << 20)) after += kPool[draws.below(std::size(kPool))];
  const std::string diff = diff_ab(before, after);
  CHECK(apply_diff(before, diff) == std::optional<std::string>(after));
}

TEST_CASE("thousands of scattered edits among repeated lines still give a minimal diff") {
  const testing::TempDir dir;
  Draws draws(99);
  std::vector<std::string> lines(20'000);
  for (std::string& line : lines) line = "key" + std::to_string(draws.below(30)) + " = on\n";
  std::string before;
  for (const std::string& line : lines) before += line;
  for (std::size_t edit = 0; edit < 1'500; ++edit) {
    const std::size_t at = draws.below(lines.size());
    if (draws.one_in(2)) {
      lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(at));
    } else {
      lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at),
                   "key" + std::to_string(draws.below(30)) + " = on\n");
    }
  }
  std::string after;
  for (const std::string& line : lines) after += line;
  const std::string diff = diff_ab(before, after);
  CHECK(apply_diff(before, diff) == std::optional<std::string>(after));
  CHECK(count_changed_lines(diff) == count_changed_lines(gnu_diff(dir, before, after, 3, /*minimal=*/true)));
}
