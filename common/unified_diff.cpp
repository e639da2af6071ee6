#include "common/unified_diff.hpp"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace muster {
namespace {

using Index = std::ptrdiff_t;
// Lines are compared as numbers: equal lines share one.
using LineNumbers = std::vector<std::size_t>;
// One flag per line: 1 if the line is removed (in `before`) or added (in `after`).
using ChangeFlags = std::vector<char>;

// A search for a split point gives up after this many edits from each end while the diff is still
// meant to be exact: every diff of up to twice this many edits is minimal.
constexpr Index kExactHalfCost = 5'000;
// Once a diff is known to need more edits than that, each search stops this much earlier and cuts
// at the furthest point it reached: coarser, but the time stays near lines * kCoarseHalfCost.
constexpr Index kCoarseHalfCost = 256;
// Steps (diagonals tried and matching lines followed) allowed for one whole diff. Inputs whose
// lines repeat in long runs can make each search follow many matches; past this budget what is
// left to compare is reported as removed and added wholesale.
constexpr std::int64_t kWorkBudget = 400'000'000;

// Cuts text into lines, each keeping its '\n', so that a last line without one differs from the
// same line with one (diff compares them that way, and says so when it prints them).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t newline = text.find('\n', start);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

struct Point {
  Index x;  // lines of `before` consumed
  Index y;  // lines of `after` consumed
};

// Finds which lines to remove from `before` and add from `after` with as few edits as possible:
// Myers' O(ND) search for a "middle snake", in linear space. Each search runs from both corners
// of the edit graph at once, d edits at a time, until the two fronts meet on a diagonal; the
// meeting point lies on a shortest path, so the two halves are solved the same way on their own.
// x indexes `before`, y indexes `after`, and diagonal k holds the points with x - y == k.
class ShortestEdit {
 public:
  ShortestEdit(const LineNumbers& before, const LineNumbers& after)
      : before_(before),
        after_(after),
        removed_(before.size(), 0),
        added_(after.size(), 0),
        forward_(before.size() + after.size() + 3),
        backward_(before.size() + after.size() + 3) {}

  void run() { compare(0, static_cast<Index>(before_.size()), 0, static_cast<Index>(after_.size())); }
  const ChangeFlags& removed() const { return removed_; }
  const ChangeFlags& added() const { return added_; }

 private:
  void compare(Index before_begin, Index before_end, Index after_begin, Index after_end) {
    // Recurses on the smaller half and loops on the larger, so the depth stays logarithmic even
    // when coarse cuts make the halves lopsided.
    while (true) {
      while (before_begin < before_end && after_begin < after_end &&
             before_[before_begin] == after_[after_begin]) {
        ++before_begin;
        ++after_begin;
      }
      while (before_begin < before_end && after_begin < after_end &&
             before_[before_end - 1] == after_[after_end - 1]) {
        --before_end;
        --after_end;
      }
      if (before_begin == before_end || after_begin == after_end || work_ > kWorkBudget) {
        mark(before_begin, before_end, after_begin, after_end);
        return;
      }
      const Point split = find_split(before_begin, before_end, after_begin, after_end);
      const bool at_a_corner = (split.x == before_begin && split.y == after_begin) ||
                               (split.x == before_end && split.y == after_end);
      if (at_a_corner) {  // no progress; cannot happen, but a wholesale change is still correct
        mark(before_begin, before_end, after_begin, after_end);
        return;
      }
      const Index first_size = (split.x - before_begin) + (split.y - after_begin);
      const Index second_size = (before_end - split.x) + (after_end - split.y);
      if (first_size <= second_size) {
        compare(before_begin, split.x, after_begin, split.y);
        before_begin = split.x;
        after_begin = split.y;
      } else {
        compare(split.x, before_end, split.y, after_end);
        before_end = split.x;
        after_end = split.y;
      }
    }
  }

  void mark(Index before_begin, Index before_end, Index after_begin, Index after_end) {
    std::fill(removed_.begin() + before_begin, removed_.begin() + before_end, 1);
    std::fill(added_.begin() + after_begin, added_.begin() + after_end, 1);
  }

  // A point on a shortest path between the two corners (or, once the search is too long, the
  // furthest point it reached, still a valid place to cut). REQUIRES: both ranges non-empty, and
  // their first lines differ and their last lines differ.
  Point find_split(Index before_begin, Index before_end, Index after_begin, Index after_end) {
    const Index n = before_end - before_begin;
    const Index m = after_end - after_begin;
    const LineNumbers::value_type* a = before_.data() + before_begin;
    const LineNumbers::value_type* b = after_.data() + after_begin;
    const Index delta = n - m;  // the diagonal of the far corner
    const bool delta_odd = (delta & 1) != 0;
    // Diagonals run from -m to n; both arrays leave one spare slot at each end.
    Index* forward = forward_.data() + m + 1;    // furthest x reached from (0, 0) on each diagonal
    Index* backward = backward_.data() + m + 1;  // smallest x reached from (n, m) on each diagonal

    // Ranges of diagonals the last forward and backward steps reached.
    Index forward_low = 0, forward_high = 0;
    Index backward_low = delta, backward_high = delta;
    forward[0] = follow_forward(a, b, n, m, 0, 0);
    backward[delta] = follow_backward(a, b, n, delta);

    const Index half_cost_limit = coarse_ ? kCoarseHalfCost : kExactHalfCost;
    for (Index d = 1;; ++d) {
      if (d > half_cost_limit || work_ > kWorkBudget) {
        coarse_ = true;
        return furthest_point(before_begin, after_begin, n, m, forward_low, forward_high, backward_low,
                              backward_high);
      }

      // Forward step d: diagonals of d's parity within [-d, d] and within the graph. Both steps go
      // from the highest diagonal down, so that among equally short paths the first met removes
      // lines before it adds them, as diff's output does.
      Index low = std::max(-d, -m);
      if (((low + d) & 1) != 0) ++low;
      Index high = std::min(d, n);
      if (((d - high) & 1) != 0) --high;
      for (Index k = high; k >= low; k -= 2) {
        const bool from_above = k + 1 <= forward_high;  // one line added, from diagonal k + 1
        const bool from_left = k - 1 >= forward_low;    // one line removed, from diagonal k - 1
        Index x = from_above && (!from_left || forward[k + 1] > forward[k - 1]) ? forward[k + 1]
                                                                                : forward[k - 1] + 1;
        // Stepping past the last line is never needed: the point on the edge is as cheap to reach.
        x = std::min({x, n, m + k});
        const Index snake_start = x;
        x = follow_forward(a, b, n, m, x, k);
        forward[k] = x;
        if (delta_odd && k >= backward_low && k <= backward_high && x >= backward[k]) {
          return {before_begin + snake_start, after_begin + snake_start - k};
        }
      }
      forward_low = low;
      forward_high = high;

      // Backward step d, around the far corner's diagonal.
      low = std::max(delta - d, -m);
      if (((low - delta + d) & 1) != 0) ++low;
      high = std::min(delta + d, n);
      if (((delta + d - high) & 1) != 0) --high;
      for (Index k = high; k >= low; k -= 2) {
        const bool from_below = k - 1 >= backward_low;   // one line added, from diagonal k - 1
        const bool from_right = k + 1 <= backward_high;  // one line removed, from diagonal k + 1
        Index x = from_below && (!from_right || backward[k - 1] < backward[k + 1]) ? backward[k - 1]
                                                                                   : backward[k + 1] - 1;
        x = std::max({x, Index{0}, k});
        const Index snake_start = x;
        x = follow_backward(a, b, x, k);
        backward[k] = x;
        if (!delta_odd && k >= forward_low && k <= forward_high && forward[k] >= x) {
          return {before_begin + snake_start, after_begin + snake_start - k};
        }
      }
      backward_low = low;
      backward_high = high;
    }
  }

  // Follows equal lines forward from (x, x - k); returns the x where they stop.
  Index follow_forward(const std::size_t* a, const std::size_t* b, Index n, Index m, Index x, Index k) {
    const Index start = x;
    Index y = x - k;
    while (x < n && y < m && a[x] == b[y]) {
      ++x;
      ++y;
    }
    work_ += 1 + (x - start);
    return x;
  }

  // Follows equal lines backward from (x, x - k); returns the x where they stop.
  Index follow_backward(const std::size_t* a, const std::size_t* b, Index x, Index k) {
    const Index start = x;
    Index y = x - k;
    while (x > 0 && y > 0 && a[x - 1] == b[y - 1]) {
      --x;
      --y;
    }
    work_ += 1 + (start - x);
    return x;
  }

  // The point either search front reached that is furthest from its own corner.
  Point furthest_point(Index before_begin, Index after_begin, Index n, Index m, Index forward_low,
                       Index forward_high, Index backward_low, Index backward_high) const {
    const Index* forward = forward_.data() + m + 1;
    const Index* backward = backward_.data() + m + 1;
    Point best{0, 0};
    Index best_progress = -1;
    for (Index k = forward_low; k <= forward_high; k += 2) {
      const Index progress = 2 * forward[k] - k;  // x + y
      if (progress > best_progress) {
        best_progress = progress;
        best = {forward[k], forward[k] - k};
      }
    }
    for (Index k = backward_low; k <= backward_high; k += 2) {
      const Index progress = n + m - (2 * backward[k] - k);  // (n - x) + (m - y)
      if (progress > best_progress) {
        best_progress = progress;
        best = {backward[k], backward[k] - k};
      }
    }
    return {before_begin + best.x, after_begin + best.y};
  }

  const LineNumbers& before_;
  const LineNumbers& after_;
  ChangeFlags removed_;
  ChangeFlags added_;
  std::vector<Index> forward_;
  std::vector<Index> backward_;
  bool coarse_ = false;
  std::int64_t work_ = 0;
};

// Marks which lines change between `before` and `after` (numbered lines), with as few changes as
// the search allows.
void find_changes(const LineNumbers& before, const LineNumbers& after, ChangeFlags& removed,
                  ChangeFlags& added) {
  const Index n = static_cast<Index>(before.size());
  const Index m = static_cast<Index>(after.size());
  Index prefix = 0;
  while (prefix < n && prefix < m && before[prefix] == after[prefix]) ++prefix;
  Index suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix && before[n - 1 - suffix] == after[m - 1 - suffix]) {
    ++suffix;
  }

  // A line with no equal in the other text's middle part can only change: leave it out of the
  // search, which then only sees lines that might match (all of them, for texts that share none).
  std::size_t distinct = 0;
  for (const std::size_t line : before) distinct = std::max(distinct, line + 1);
  for (const std::size_t line : after) distinct = std::max(distinct, line + 1);
  std::vector<char> in_before(distinct, 0), in_after(distinct, 0);
  for (Index i = prefix; i < n - suffix; ++i) in_before[before[i]] = 1;
  for (Index j = prefix; j < m - suffix; ++j) in_after[after[j]] = 1;

  LineNumbers kept_before, kept_after;
  std::vector<Index> kept_before_at, kept_after_at;  // where each kept line sits in its text
  for (Index i = prefix; i < n - suffix; ++i) {
    if (in_after[before[i]]) {
      kept_before.push_back(before[i]);
      kept_before_at.push_back(i);
    } else {
      removed[i] = 1;
    }
  }
  for (Index j = prefix; j < m - suffix; ++j) {
    if (in_before[after[j]]) {
      kept_after.push_back(after[j]);
      kept_after_at.push_back(j);
    } else {
      added[j] = 1;
    }
  }

  ShortestEdit search(kept_before, kept_after);
  search.run();
  for (std::size_t i = 0; i < kept_before.size(); ++i) {
    if (search.removed()[i]) removed[kept_before_at[i]] = 1;
  }
  for (std::size_t j = 0; j < kept_after.size(); ++j) {
    if (search.added()[j]) added[kept_after_at[j]] = 1;
  }
}

// Slides each run of changed lines in `lines` over equal neighbouring lines, which changes the
// same lines in other places, so that runs join where they can, then line up with a change in the
// other text where they can, and otherwise sit as low as they can: "+}\n+b {\n" becomes
// "+b {\n+}\n", as a person (and diff) would write it. `other_changed` stays as it is.
void slide_changes(const LineNumbers& lines, ChangeFlags& changed, const ChangeFlags& other_changed) {
  // other_has_change[u]: the other text changes lines between its unchanged lines u - 1 and u
  // (unchanged lines of both texts pair up in order).
  std::vector<char> other_has_change(1, 0);
  for (const char line_changed : other_changed) {
    if (line_changed) {
      other_has_change.back() = 1;
    } else {
      other_has_change.push_back(0);
    }
  }
  const auto other_changes_at = [&other_has_change](Index unchanged) {
    return unchanged < static_cast<Index>(other_has_change.size()) && other_has_change[unchanged] != 0;
  };

  const Index n = static_cast<Index>(lines.size());
  Index unchanged_before = 0;  // unchanged lines before `start`
  Index start = 0;
  while (start < n) {
    if (!changed[start]) {
      ++unchanged_before;
      ++start;
      continue;
    }
    Index end = start;
    while (end < n && changed[end]) ++end;

    Index lined_up_end = -1;  // where the run's end lines up with a change in the other text
    Index length = 0;
    do {
      length = end - start;
      while (start > 0 && !changed[start - 1] && lines[start - 1] == lines[end - 1]) {
        changed[--start] = 1;
        changed[--end] = 0;
        --unchanged_before;
        while (start > 0 && changed[start - 1]) --start;
      }
      lined_up_end = other_changes_at(unchanged_before) ? end : -1;
      while (end < n && !changed[end] && lines[start] == lines[end]) {
        changed[start++] = 0;
        changed[end++] = 1;
        ++unchanged_before;
        while (end < n && changed[end]) ++end;
        if (other_changes_at(unchanged_before)) lined_up_end = end;
      }
    } while (length != end - start);

    if (lined_up_end >= 0) {
      while (end > lined_up_end) {
        changed[--start] = 1;
        changed[--end] = 0;
        --unchanged_before;
      }
    }
    start = end;
  }
}

// Lines [before_begin, before_end) of `before` become lines [after_begin, after_end) of `after`.
struct Change {
  Index before_begin;
  Index before_end;
  Index after_begin;
  Index after_end;
};

std::vector<Change> collect_changes(const ChangeFlags& removed, const ChangeFlags& added) {
  const Index n = static_cast<Index>(removed.size());
  const Index m = static_cast<Index>(added.size());
  std::vector<Change> changes;
  Index i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && !removed[i] && !added[j]) {
      ++i;
      ++j;
      continue;
    }
    Change change{i, i, j, j};
    while (change.before_end < n && removed[change.before_end]) ++change.before_end;
    while (change.after_end < m && added[change.after_end]) ++change.after_end;
    if (change.before_end == i && change.after_end == j) {
      // Unpaired unchanged lines cannot happen; replacing the rest wholesale would still be correct.
      change.before_end = n;
      change.after_end = m;
    }
    changes.push_back(change);
    i = change.before_end;
    j = change.after_end;
  }
  return changes;
}

// "l,s" as diff writes a range of `count` lines starting at line `begin` (0-based).
void append_range(std::string& out, Index begin, Index count) {
  if (count == 0) {
    out += std::to_string(begin);  // the line before the empty range, 1-based
    out += ",0";
  } else {
    out += std::to_string(begin + 1);
    if (count != 1) {
      out += ',';
      out += std::to_string(count);
    }
  }
}

void append_line(std::string& out, char marker, std::string_view line) {
  out += marker;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::string unified_diff(std::string_view before, std::string_view after, std::string_view before_label,
                         std::string_view after_label, std::size_t context) noexcept {
  if (before == after) return {};
  const std::vector<std::string_view> before_lines = split_lines(before);
  const std::vector<std::string_view> after_lines = split_lines(after);

  std::unordered_map<std::string_view, std::size_t> numbers;
  numbers.reserve(before_lines.size() + after_lines.size());
  const auto number_lines = [&numbers](const std::vector<std::string_view>& lines) {
    LineNumbers numbered;
    numbered.reserve(lines.size());
    for (const std::string_view line : lines)
      numbered.push_back(numbers.emplace(line, numbers.size()).first->second);
    return numbered;
  };
  const LineNumbers before_numbers = number_lines(before_lines);
  const LineNumbers after_numbers = number_lines(after_lines);

  ChangeFlags removed(before_lines.size(), 0), added(after_lines.size(), 0);
  find_changes(before_numbers, after_numbers, removed, added);
  slide_changes(before_numbers, removed, added);
  slide_changes(after_numbers, added, removed);
  const std::vector<Change> changes = collect_changes(removed, added);

  const Index n = static_cast<Index>(before_lines.size());
  const Index context_lines =
      static_cast<Index>(std::min<std::size_t>(context, before_lines.size() + after_lines.size()));
  std::string out;
  out += "--- ";
  out += before_label;
  out += "\n+++ ";
  out += after_label;
  out += '\n';
  for (std::size_t first = 0; first < changes.size();) {
    // One hunk: the changes whose gaps are short enough for their context lines to meet.
    std::size_t last = first;
    while (last + 1 < changes.size() &&
           changes[last + 1].before_begin - changes[last].before_end <= 2 * context_lines) {
      ++last;
    }
    const Index before_begin = std::max(Index{0}, changes[first].before_begin - context_lines);
    const Index after_begin = changes[first].after_begin - (changes[first].before_begin - before_begin);
    const Index before_end = std::min(n, changes[last].before_end + context_lines);
    const Index after_end = changes[last].after_end + (before_end - changes[last].before_end);
    out += "@@ -";
    append_range(out, before_begin, before_end - before_begin);
    out += " +";
    append_range(out, after_begin, after_end - after_begin);
    out += " @@\n";

    Index i = before_begin;
    for (std::size_t c = first; c <= last; ++c) {
      for (; i < changes[c].before_begin; ++i) append_line(out, ' ', before_lines[i]);
      for (; i < changes[c].before_end; ++i) append_line(out, '-', before_lines[i]);
      for (Index j = changes[c].after_begin; j < changes[c].after_end; ++j)
        append_line(out, '+', after_lines[j]);
    }
    for (; i < before_end; ++i) append_line(out, ' ', before_lines[i]);
    first = last + 1;
  }
  return out;
}

}  // namespace muster
