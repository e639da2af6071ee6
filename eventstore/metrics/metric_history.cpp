#include "eventstore/metrics/metric_history.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <utility>

#include "common/log.hpp"
#include "eventstore/metrics/metric_codec.hpp"

namespace muster {
namespace {

using namespace metric_codec;

constexpr TimeMs kMinuteMs = 60'000;
constexpr TimeMs kHourMs = 3'600'000;
constexpr TimeMs kDayMs = 86'400'000;
/// A point heard this long ago is in the table (a step flushes the buffer
/// first; this covers a heartbeat stamped just before and recorded just after).
constexpr TimeMs kSettleMs = 10'000;
/// Expiry erases a series' old points in slices at least this wide, per level.
constexpr std::array<TimeMs, 4> kExpirySliceMs = {10 * kMinuteMs, kHourMs, kDayMs, kDayMs};
/// An aggregate's stored size: min, max, sum, last and a 4-byte count.
constexpr std::size_t kSummaryBytes = 4 * sizeof(double) + 4;
/// Writes per batch at most: the database's writes (the log's appends among
/// them) take turns, so a large flush or rollup step holds none up for long.
constexpr std::size_t kMaxBatchOperations = 8192;

MetricFamily family_of(MetricLevel level) { return static_cast<MetricFamily>(static_cast<int>(level)); }

TimeMs align_down(TimeMs time_ms, TimeMs step_ms) {
  if (step_ms <= 1) return time_ms;
  const TimeMs remainder = time_ms % step_ms;
  return remainder < 0 ? time_ms - remainder - step_ms : time_ms - remainder;
}

// An aggregate is stored in as few bytes as its count allows (most 1-minute
// buckets hold one or two heartbeats' points):
//   count 1: the value (8 bytes): min = max = sum = last;
//   count 2: min, max (8 bytes each) and whether the last was the max (1
//            byte): sum = min + max, exactly as the fold added them (IEEE
//            addition of two numbers does not depend on their order);
//   else:    min, max, sum, last (8 bytes each) and the count (4 bytes, BE).
std::string encode_summary(const MetricSummary& summary) {
  std::string value;
  if (summary.count == 1) {
    append_double(value, summary.last);
    return value;
  }
  if (summary.count == 2 && summary.sum == summary.min + summary.max &&
      (summary.last == summary.max || summary.last == summary.min)) {
    append_double(value, summary.min);
    append_double(value, summary.max);
    value.push_back(summary.last == summary.max ? '\1' : '\0');
    return value;
  }
  value.reserve(kSummaryBytes);
  append_double(value, summary.min);
  append_double(value, summary.max);
  append_double(value, summary.sum);
  append_double(value, summary.last);
  const auto count = static_cast<std::uint32_t>(std::min<std::uint64_t>(summary.count, 0xffffffffu));
  for (int shift = 24; shift >= 0; shift -= 8) value.push_back(static_cast<char>((count >> shift) & 0xff));
  return value;
}

std::optional<MetricSummary> decode_summary(std::string_view value) {
  MetricSummary summary;
  if (value.size() == sizeof(double)) {
    const double one = read_double(value);
    return MetricSummary{one, one, one, 1, one};
  }
  if (value.size() == 2 * sizeof(double) + 1) {
    summary.min = read_double(value.substr(0));
    summary.max = read_double(value.substr(8));
    summary.sum = summary.min + summary.max;
    summary.count = 2;
    summary.last = value[16] != 0 ? summary.max : summary.min;
    return summary;
  }
  if (value.size() != kSummaryBytes) return std::nullopt;
  summary.min = read_double(value.substr(0));
  summary.max = read_double(value.substr(8));
  summary.sum = read_double(value.substr(16));
  summary.last = read_double(value.substr(24));
  std::uint32_t count = 0;
  for (std::size_t index = 32; index < 36; ++index) count = count << 8 | static_cast<unsigned char>(value[index]);
  summary.count = count;
  return summary;
}

MetricSummary single(double value) { return {value, value, value, 1, value}; }

/// Up to where each level of a series is rolled up and expired (exclusive).
struct SeriesMarks {
  std::array<TimeMs, 4> rolled_up_to{};  ///< Index 0 unused: raw points are not rolled from anything.
  std::array<TimeMs, 4> expired_below{};

  friend bool operator==(const SeriesMarks& left, const SeriesMarks& right) {
    return left.rolled_up_to == right.rolled_up_to && left.expired_below == right.expired_below;
  }
  friend bool operator!=(const SeriesMarks& left, const SeriesMarks& right) { return !(left == right); }
};

std::string encode_marks(const SeriesMarks& marks) {
  std::string value;
  for (std::size_t level = 1; level < 4; ++level) append_u64_be(value, static_cast<std::uint64_t>(marks.rolled_up_to[level]));
  for (std::size_t level = 0; level < 4; ++level) append_u64_be(value, static_cast<std::uint64_t>(marks.expired_below[level]));
  return value;
}

std::optional<SeriesMarks> decode_marks(std::string_view value) {
  if (value.size() != 7 * 8) return std::nullopt;
  SeriesMarks marks;
  for (std::size_t level = 1; level < 4; ++level) marks.rolled_up_to[level] = static_cast<TimeMs>(read_u64_be(value.substr((level - 1) * 8)));
  for (std::size_t level = 0; level < 4; ++level) marks.expired_below[level] = static_cast<TimeMs>(read_u64_be(value.substr(24 + level * 8)));
  return marks;
}

Error malformed(std::string_view what) {
  return make_error(ErrorCode::corruption, std::string("malformed metrics data: ") + std::string(what));
}

/// Folds time-ordered points into buckets of `step_ms` aligned to its multiples.
void fold_into_buckets(const std::vector<MetricPoint>& points, TimeMs step_ms, std::vector<MetricPoint>& out) {
  for (const auto& point : points) {
    const TimeMs bucket = align_down(point.time_ms, step_ms);
    if (!out.empty() && out.back().time_ms == bucket) {
      out.back().summary.add(point.summary);
    } else {
      out.push_back({bucket, point.summary});
    }
  }
}

/// What a step knows of the levels' cursors.
struct LevelCursors {
  std::array<std::unique_ptr<MetricCursor>, 4> cursors;
  MetricCursor& at(MetricLevel level) { return *cursors[static_cast<std::size_t>(level)]; }
};

/// `series`' stored aggregates of `level` in [from_ms, to_ms), in time order.
Status scan_stored(MetricCursor& cursor, std::string_view series, TimeMs from_ms, TimeMs to_ms,
                   std::vector<MetricPoint>& out) {
  if (from_ms >= to_ms) return Status::success();
  for (cursor.seek(point_key(series, from_ms)); cursor.valid(); cursor.next()) {
    const std::string_view key = cursor.key();
    if (key.size() != series.size() + 8 || key.substr(0, series.size()) != series) break;
    const TimeMs time_ms = time_of(key);
    if (time_ms >= to_ms) break;
    auto summary = decode_summary(cursor.value());
    if (!summary) return malformed("aggregate");
    out.push_back({time_ms, *summary});
  }
  return cursor.status();
}

/// Calls `visit(time, name, value)` for each raw point of `agent` heard in
/// [from_ms, to_ms), in time order.
template <class Visit>
Status scan_raw(MetricCursor& cursor, std::string_view agent, TimeMs from_ms, TimeMs to_ms, Visit visit) {
  if (from_ms >= to_ms) return Status::success();
  for (cursor.seek(raw_key(agent, from_ms)); cursor.valid(); cursor.next()) {
    const std::string_view key = cursor.key();
    if (key.size() != kRawKeyBytes || agent_of(key) != agent) break;
    const TimeMs time_ms = time_of(key);
    if (time_ms >= to_ms) break;
    if (!for_each_raw_point(cursor.value(), [&](std::string_view name, double value) { visit(time_ms, name, value); })) {
      return malformed("raw row");
    }
  }
  return cursor.status();
}

/// `series`' raw points in [from_ms, to_ms), in time order.
Status scan_raw_series(MetricCursor& cursor, std::string_view series, TimeMs from_ms, TimeMs to_ms,
                       std::vector<MetricPoint>& out) {
  const std::string_view name = metric_name_of(series);
  return scan_raw(cursor, agent_of(series), from_ms, to_ms, [&](TimeMs time_ms, std::string_view point_name, double value) {
    if (point_name == name) out.push_back({time_ms, single(value)});
  });
}

/// `series` at `level` over [from_ms, to_ms): the level's stored buckets up
/// to its rollup mark, and the rest computed from the level below.
Status collect(LevelCursors& cursors, std::string_view series, const SeriesMarks& marks, MetricLevel level,
               TimeMs from_ms, TimeMs to_ms, std::vector<MetricPoint>& out) {
  if (from_ms >= to_ms) return Status::success();
  if (level == MetricLevel::raw) return scan_raw_series(cursors.at(level), series, from_ms, to_ms, out);
  const auto index = static_cast<std::size_t>(level);
  const TimeMs rolled = marks.rolled_up_to[index];
  if (Status stored = scan_stored(cursors.at(level), series, from_ms, std::min(to_ms, rolled), out); !stored)
    return stored;
  const TimeMs rest_from = std::max(from_ms, rolled);
  if (rest_from >= to_ms) return Status::success();
  std::vector<MetricPoint> finer;
  const auto below = static_cast<MetricLevel>(index - 1);
  if (Status computed = collect(cursors, series, marks, below, rest_from, to_ms, finer); !computed) return computed;
  fold_into_buckets(finer, metric_level_resolution_ms(level), out);
  return Status::success();
}

}  // namespace

TimeMs metric_level_resolution_ms(MetricLevel level) {
  switch (level) {
    case MetricLevel::raw:
      return 1;
    case MetricLevel::minute:
      return kMinuteMs;
    case MetricLevel::hour:
      return kHourMs;
    case MetricLevel::day:
      return kDayMs;
  }
  return 1;
}

void MetricSummary::add(const MetricSummary& later) {
  if (later.count == 0) return;
  if (count == 0) {
    *this = later;
    return;
  }
  min = std::min(min, later.min);
  max = std::max(max, later.max);
  sum += later.sum;
  count += later.count;
  last = later.last;
}

struct MetricHistory::Impl {
  Impl(MetricTable& table, TimerService& timers, MetricHistoryOptions options)
      : table(table),
        timers(timers),
        options(options),
        flusher(timers, options.flush_interval_ms, [this] {
          if (Status flushed = flush(); !flushed) {
            log::warn("cannot write metrics; the buffered points are dropped", {{"error", flushed.error().message}});
          }
        }) {}

  std::array<TimeMs, 4> retentions() const {
    return {options.raw_retention_ms, options.minute_retention_ms, options.hour_retention_ms,
            options.day_retention_ms};
  }

  // --- buffer -------------------------------------------------------------
  // A heartbeat appends one record: agent (16) | heard at (8, BE) | org
  // length (1) | org | count (1) | per metric: name length (1) | name | value (8).
  // Its first 24 bytes are its raw row's key, its points the row's value.

  void record(const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
              const std::map<std::string, double>& metrics) {
    std::size_t bytes = 16 + 8 + 1 + org.size() + 1;
    for (const auto& [name, value] : metrics) bytes += 1 + name.size() + 8;
    if (org.size() > 255 || metrics.size() > 255) {
      points_dropped += metrics.size();
      return;
    }
    std::lock_guard buffer_lock(buffer_mutex);
    points_recorded += metrics.size();
    if (buffer.size() + bytes > options.max_buffered_bytes) {
      points_dropped += metrics.size();
      return;
    }
    buffer.append(reinterpret_cast<const char*>(agent_id.bytes().data()), 16);
    append_u64_be(buffer, static_cast<std::uint64_t>(heard_at_ms));
    buffer.push_back(static_cast<char>(org.size()));
    buffer.append(org);
    buffer.push_back(static_cast<char>(metrics.size()));
    for (const auto& [name, value] : metrics) {
      buffer.push_back(static_cast<char>(std::min<std::size_t>(name.size(), 255)));
      buffer.append(name.data(), std::min<std::size_t>(name.size(), 255));
      append_double(buffer, value);
    }
  }

  Status flush() {
    std::lock_guard flush_lock(flush_mutex);
    std::string taken;
    {
      std::lock_guard buffer_lock(buffer_mutex);
      taken.swap(buffer);
    }
    if (taken.empty()) return Status::success();
    MetricBatch batch;
    std::uint64_t points = 0;
    std::vector<std::pair<std::string, std::string>> new_names;
    // (org, name) pairs this flush looked up already (views into `taken`):
    // a few names repeat in every heartbeat, so most points skip the lock.
    std::set<std::pair<std::string_view, std::string_view>> checked;
    // One row per heartbeat: its record's agent and time are the row's key,
    // its points the row's value, as they are.
    std::vector<std::uint64_t> points_through;  ///< Points in the rows up to each, inclusive.
    std::string_view rest = taken;
    while (rest.size() >= kRawKeyBytes + 1) {
      const std::string_view key = rest.substr(0, kRawKeyBytes);
      const auto org_size = static_cast<unsigned char>(rest[kRawKeyBytes]);
      const std::string_view org = rest.substr(kRawKeyBytes + 1, org_size);
      rest.remove_prefix(kRawKeyBytes + 1 + org_size);
      const auto count = static_cast<unsigned char>(rest[0]);
      rest.remove_prefix(1);
      const std::string_view row = rest;
      for (unsigned index = 0; index < count; ++index) {
        const auto name_size = static_cast<unsigned char>(rest[0]);
        const std::string_view name = rest.substr(1, name_size);
        rest.remove_prefix(1 + name_size + 8);
        const std::pair<std::string_view, std::string_view> org_name(org, name);
        if (checked.find(org_name) == checked.end()) {
          checked.insert(org_name);
          if (!knows_name(org, name)) new_names.emplace_back(std::string(org), std::string(name));
        }
      }
      batch.put(MetricFamily::raw, std::string(key), std::string(row.substr(0, row.size() - rest.size())));
      points += count;
      points_through.push_back(points);
    }
    for (const auto& [org, name] : new_names) batch.put(MetricFamily::meta, name_key(org, name), std::string());
    // In slices, each its own write: the names go with the last slice.
    std::uint64_t written_points = 0;
    for (std::size_t begin = 0; begin < batch.size(); begin += kMaxBatchOperations) {
      const std::size_t end = std::min(batch.size(), begin + kMaxBatchOperations);
      MetricBatch slice;
      slice.operations.assign(std::make_move_iterator(batch.operations.begin() + static_cast<std::ptrdiff_t>(begin)),
                              std::make_move_iterator(batch.operations.begin() + static_cast<std::ptrdiff_t>(end)));
      if (Status written = table.write(slice); !written) {
        points_flushed += written_points;
        points_dropped += points - written_points;
        return written;
      }
      written_points = points_through.empty() ? 0 : points_through[std::min(end, points_through.size()) - 1];
    }
    points_flushed += points;
    std::lock_guard names_lock(names_mutex);
    for (auto& [org, name] : new_names) remember_name(org, name);
    return Status::success();
  }

  // --- names --------------------------------------------------------------

  bool knows_name(std::string_view org, std::string_view name) const {
    std::lock_guard names_lock(names_mutex);
    const auto found = names.find(org);
    if (found == names.end()) return false;
    return found->second.count(name) > 0 || found->second.size() >= options.max_names_per_org;
  }

  /// REQUIRES: names_mutex held.
  void remember_name(const std::string& org, const std::string& name) {
    auto& known = names[org];
    if (known.size() < options.max_names_per_org) known.insert(name);
  }

  Status load_names() {
    std::vector<std::pair<std::string, std::string>> loaded;
    Status read = table.read([&](MetricReader& reader) -> Status {
      auto cursor = reader.open(MetricFamily::meta);
      for (cursor->seek("n"); cursor->valid() && cursor->key()[0] == 'n'; cursor->next()) {
        const std::string_view key = cursor->key().substr(1);
        const auto separator = key.find('\0');
        if (separator == std::string_view::npos) return malformed("name key");
        loaded.emplace_back(std::string(key.substr(0, separator)), std::string(key.substr(separator + 1)));
      }
      return cursor->status();
    });
    if (!read) return read;
    std::lock_guard names_lock(names_mutex);
    for (const auto& [org, name] : loaded) remember_name(org, name);
    return Status::success();
  }

  // --- reads --------------------------------------------------------------

  MetricLevel level_covering(TimeMs from_ms) const {
    const TimeMs now = timers.now_ms();
    const auto kept = retentions();
    for (std::size_t level = 0; level < 4; ++level) {
      if (from_ms >= now - kept[level]) return static_cast<MetricLevel>(level);
    }
    return MetricLevel::day;
  }

  Result<std::vector<MetricPoint>> collect_series(const AgentId& agent_id, std::string_view name, MetricLevel level,
                                                  TimeMs from_ms, TimeMs to_ms) {
    if (Status flushed = flush(); !flushed) {
      log::warn("cannot write metrics; the buffered points are dropped", {{"error", flushed.error().message}});
    }
    const std::string series = series_key(agent_id.bytes(), name);
    std::vector<MetricPoint> points;
    Status read = table.read([&](MetricReader& reader) -> Status {
      SeriesMarks marks;
      auto stored = reader.get(MetricFamily::meta, series_marks_key(series));
      if (!stored) return stored.error();
      if (*stored) {
        auto decoded = decode_marks(**stored);
        if (!decoded) return malformed("series marks");
        marks = *decoded;
      }
      LevelCursors cursors;
      for (std::size_t index = 0; index < 4; ++index) cursors.cursors[index] = reader.open(static_cast<MetricFamily>(index));
      return collect(cursors, series, marks, level, from_ms, to_ms, points);
    });
    if (!read) return read.error();
    return points;
  }

  // --- rollup and expiry --------------------------------------------------

  /// Rolls `series` up and expires its old aggregates; returns its new
  /// marks. `fresh`: its raw points not yet in minutes, up to the minute the
  /// horizon falls in (the agent's rows are read once for all its series).
  /// Raw rows are expired by `roll_up_agent`, for all of an agent's series.
  Result<SeriesMarks> roll_up_series(LevelCursors& cursors, std::string_view series, const SeriesMarks& marks,
                                     const std::vector<MetricPoint>& fresh, TimeMs now, MetricBatch& batch) {
    SeriesMarks updated = marks;
    const TimeMs horizon = now - kSettleMs;
    for (std::size_t index = 1; index < 4; ++index) {
      const auto level = static_cast<MetricLevel>(index);
      const TimeMs resolution = metric_level_resolution_ms(level);
      TimeMs until = align_down(horizon, resolution);
      // From the level below only what an earlier step stored (its mark as read).
      if (index >= 2) until = std::min(until, align_down(marks.rolled_up_to[index - 1], resolution));
      const TimeMs from = marks.rolled_up_to[index];
      if (until <= from) continue;
      // Minutes from the raw points read for the whole agent; above, the level below as stored.
      std::vector<MetricPoint> stored;
      if (index >= 2) {
        if (Status read = scan_stored(cursors.at(static_cast<MetricLevel>(index - 1)), series, from, until, stored);
            !read) {
          return read.error();
        }
      }
      const std::vector<MetricPoint>& source = index == 1 ? fresh : stored;
      std::vector<MetricPoint> buckets;
      fold_into_buckets(source, resolution, buckets);
      for (const auto& bucket : buckets) {
        batch.put(family_of(level), point_key(series, bucket.time_ms), encode_summary(bucket.summary));
      }
      updated.rolled_up_to[index] = until;
    }
    const auto kept = retentions();
    for (std::size_t index = 1; index < 4; ++index) {
      TimeMs cutoff = now - kept[index];
      // Never before the level above holds it.
      if (index < 3) cutoff = std::min(cutoff, updated.rolled_up_to[index + 1]);
      if (cutoff - updated.expired_below[index] < kExpirySliceMs[index]) continue;
      auto& cursor = cursors.at(static_cast<MetricLevel>(index));
      for (cursor.seek(point_key(series, updated.expired_below[index])); cursor.valid(); cursor.next()) {
        const std::string_view key = cursor.key();
        if (key.size() != series.size() + 8 || key.substr(0, series.size()) != series) break;
        if (time_of(key) >= cutoff) break;
        batch.erase(family_of(static_cast<MetricLevel>(index)), std::string(key));
      }
      if (Status status = cursor.status(); !status) return status.error();
      updated.expired_below[index] = cutoff;
    }
    return updated;
  }

  /// Rolls up every series of `agent` (`marks`: those with marks, by
  /// series; series first seen in its raw rows are added) and expires its
  /// raw rows older than both the raw retention and every series' minutes.
  /// Writes the marks that changed. Returns how many series it handled.
  Result<std::size_t> roll_up_agent(LevelCursors& cursors, std::string_view agent,
                                    std::map<std::string, SeriesMarks>& marks, TimeMs now, MetricBatch& batch) {
    const std::map<std::string, SeriesMarks> before = marks;
    // Every series' raw points not yet in minutes, from one read of the rows.
    const TimeMs minutes_until = align_down(now - kSettleMs, kMinuteMs);
    TimeMs from = marks.empty() ? 0 : minutes_until;
    TimeMs raw_expired_below = 0;  // Shared by the agent's series.
    for (const auto& [series, series_marks] : marks) {
      from = std::min(from, series_marks.rolled_up_to[1]);
      raw_expired_below = std::max(raw_expired_below, series_marks.expired_below[0]);
    }
    std::map<std::string, std::vector<MetricPoint>, std::less<>> fresh;
    std::string series;
    Status scanned = scan_raw(cursors.at(MetricLevel::raw), agent, from, minutes_until,
                              [&](TimeMs time_ms, std::string_view name, double value) {
                                series.assign(agent);
                                series.append(name);
                                series.push_back('\0');
                                auto known = marks.find(series);
                                if (known == marks.end()) {
                                  // A series first seen: its raw rows expire with the agent's.
                                  SeriesMarks first;
                                  first.expired_below[0] = raw_expired_below;
                                  known = marks.emplace(series, first).first;
                                } else if (time_ms < known->second.rolled_up_to[1]) {
                                  return;
                                }
                                fresh[series].push_back({time_ms, single(value)});
                              });
    if (!scanned) return scanned.error();
    const std::vector<MetricPoint> none;
    TimeMs raw_cutoff = now - options.raw_retention_ms;
    for (auto& [name, series_marks] : marks) {
      const auto points = fresh.find(name);
      auto updated = roll_up_series(cursors, name, series_marks, points == fresh.end() ? none : points->second, now,
                                    batch);
      if (!updated) return updated.error();
      series_marks = *updated;
      // Never before every series holds the rows in its minutes.
      raw_cutoff = std::min(raw_cutoff, series_marks.rolled_up_to[1]);
    }
    if (!marks.empty() && raw_cutoff - raw_expired_below >= kExpirySliceMs[0]) {
      auto& cursor = cursors.at(MetricLevel::raw);
      for (cursor.seek(raw_key(agent, raw_expired_below)); cursor.valid(); cursor.next()) {
        const std::string_view key = cursor.key();
        if (key.size() != kRawKeyBytes || agent_of(key) != agent || time_of(key) >= raw_cutoff) break;
        batch.erase(MetricFamily::raw, std::string(key));
      }
      if (Status status = cursor.status(); !status) return status.error();
      for (auto& [name, series_marks] : marks) series_marks.expired_below[0] = raw_cutoff;
    }
    for (const auto& [name, series_marks] : marks) {
      const auto old = before.find(name);
      if (old == before.end() || old->second != series_marks) {
        batch.put(MetricFamily::meta, series_marks_key(name), encode_marks(series_marks));
      }
    }
    return marks.size();
  }

  Result<bool> roll_up_step(std::size_t max_series) {
    std::lock_guard step_lock(step_mutex);
    // Everything heard before now goes in first, so a bucket rolled up is complete.
    if (Status flushed = flush(); !flushed) {
      log::warn("cannot write metrics; the buffered points are dropped", {{"error", flushed.error().message}});
    }
    const TimeMs now = timers.now_ms();
    MetricBatch batch;
    bool finished = false;
    std::string next_cursor = pass_cursor;
    Status read = table.read([&](MetricReader& reader) -> Status {
      LevelCursors cursors;
      for (std::size_t index = 0; index < 4; ++index) cursors.cursors[index] = reader.open(static_cast<MetricFamily>(index));
      // Two more over raw and meta, which walk the agents: every agent with
      // raw rows, and every agent with marks (whose raw rows may be gone).
      auto raw_walk = reader.open(MetricFamily::raw);
      auto meta_walk = reader.open(MetricFamily::meta);
      raw_walk->seek(pass_cursor);
      meta_walk->seek(series_marks_key(pass_cursor));
      std::size_t handled = 0;
      // Whole agents, until the batch is large enough.
      while (handled < max_series && batch.size() < kMaxBatchOperations) {
        std::optional<std::string> raw_agent;
        std::optional<std::string> marked_agent;
        if (raw_walk->valid()) {
          if (raw_walk->key().size() != kRawKeyBytes) return malformed("raw row key");
          raw_agent = std::string(agent_of(raw_walk->key()));
        }
        if (meta_walk->valid() && meta_walk->key()[0] == 's') {
          if (meta_walk->key().size() < 1 + 16 + 2) return malformed("series marks key");
          marked_agent = std::string(agent_of(meta_walk->key().substr(1)));
        }
        if (!raw_agent && !marked_agent) {
          finished = true;
          break;
        }
        const std::string agent =
            !raw_agent ? *marked_agent : !marked_agent ? *raw_agent : std::min(*raw_agent, *marked_agent);
        std::map<std::string, SeriesMarks> marks;
        for (; meta_walk->valid() && meta_walk->key()[0] == 's' && meta_walk->key().size() >= 1 + 16 + 2 &&
               agent_of(meta_walk->key().substr(1)) == agent;
             meta_walk->next()) {
          auto decoded = decode_marks(meta_walk->value());
          if (!decoded) return malformed("series marks");
          marks.emplace(std::string(meta_walk->key().substr(1)), *decoded);
        }
        auto series_handled = roll_up_agent(cursors, agent, marks, now, batch);
        if (!series_handled) return series_handled.error();
        // Past every key of the agent's: raw rows (agent + time, whose first
        // byte is below 0x80) and marks ('s' + agent + a name's letter).
        next_cursor = agent + '\xff';
        if (raw_agent && *raw_agent == agent) raw_walk->seek(next_cursor);
        handled += *series_handled;
      }
      if (Status status = raw_walk->status(); !status) return status;
      return meta_walk->status();
    });
    if (!read) return read.error();
    if (Status written = table.write(batch); !written) return written.error();
    pass_cursor = finished ? std::string() : next_cursor;
    if (finished) ++passes_finished;
    return finished;
  }

  void arm_rollup(TimeMs delay_ms) {
    std::lock_guard timer_lock(timer_mutex);
    if (stopping) return;
    rollup_timer = timers.schedule_after(delay_ms, [this] {
      Gate::Holder inside(timer_callbacks);
      if (!inside) return;
      auto finished = roll_up_step(options.rollup_batch_series);
      if (!finished) {
        log::warn("metrics rollup step failed; the pass is tried again later", {{"error", finished.error().message}});
        arm_rollup(options.rollup_interval_ms);
        return;
      }
      // The next step of a pass right after this one (other timers run between).
      arm_rollup(*finished ? options.rollup_interval_ms : 0);
    });
  }

  MetricTable& table;
  TimerService& timers;
  const MetricHistoryOptions options;

  std::mutex buffer_mutex;
  std::string buffer;  ///< Guarded by buffer_mutex.
  std::mutex flush_mutex;  ///< One flush at a time.

  mutable std::mutex names_mutex;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> names;  ///< Guarded by names_mutex.

  std::mutex step_mutex;    ///< One rollup step at a time.
  std::string pass_cursor;  ///< Guarded by step_mutex: where the pass goes on ("": a new pass).

  std::atomic<std::uint64_t> points_recorded{0};
  std::atomic<std::uint64_t> points_dropped{0};
  std::atomic<std::uint64_t> points_flushed{0};
  std::atomic<std::uint64_t> passes_finished{0};

  std::mutex timer_mutex;
  bool stopping = false;                   ///< Guarded by timer_mutex.
  TimerService::TimerId rollup_timer = 0;  ///< Guarded by timer_mutex.
  Gate timer_callbacks;
  PeriodicTimer flusher;
  bool started = false;
};

MetricHistory::MetricHistory(MetricTable& table, TimerService& timers, MetricHistoryOptions options)
    : impl_(std::make_unique<Impl>(table, timers, options)) {}

MetricHistory::~MetricHistory() { stop(); }

std::string_view MetricHistory::name() const { return "metrics"; }

Status MetricHistory::start() {
  if (Status loaded = impl_->load_names(); !loaded) return loaded;
  impl_->started = true;
  impl_->flusher.start();
  impl_->arm_rollup(impl_->options.rollup_interval_ms);
  return Status::success();
}

void MetricHistory::stop() {
  TimerService::TimerId pending = 0;
  {
    std::lock_guard timer_lock(impl_->timer_mutex);
    if (impl_->stopping) return;
    impl_->stopping = true;
    pending = impl_->rollup_timer;
  }
  impl_->timers.cancel(pending);
  impl_->timer_callbacks.close();
  impl_->flusher.stop();
  if (Status flushed = impl_->flush(); !flushed) {
    log::error("cannot write the last metrics at shutdown", {{"error", flushed.error().message}});
  }
}

void MetricHistory::record(const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
                           const std::map<std::string, double>& metrics) {
  impl_->record(agent_id, org, heard_at_ms, metrics);
}

Status MetricHistory::flush() { return impl_->flush(); }

MetricLevel MetricHistory::level_covering(TimeMs from_ms) const { return impl_->level_covering(from_ms); }

Result<std::vector<MetricPoint>> MetricHistory::read(const AgentId& agent_id, std::string_view name,
                                                     MetricLevel level, TimeMs from_ms, TimeMs to_ms,
                                                     TimeMs step_ms) {
  step_ms = std::max<TimeMs>(step_ms, metric_level_resolution_ms(level));
  const TimeMs from = align_down(from_ms, step_ms);
  auto points = impl_->collect_series(agent_id, name, level, from, to_ms);
  if (!points) return points.error();
  std::vector<MetricPoint> buckets;
  fold_into_buckets(*points, step_ms, buckets);
  return buckets;
}

Result<WindowSummary> MetricHistory::window(const AgentId& agent_id, std::string_view name, TimeMs from_ms,
                                            TimeMs to_ms) {
  auto points = impl_->collect_series(agent_id, name, level_covering(from_ms), from_ms, to_ms);
  if (!points) return points.error();
  WindowSummary summary;
  for (const auto& point : *points) summary.add(point.summary);
  return summary;
}

std::vector<std::string> MetricHistory::names(std::string_view org) const {
  // Names are learnt as the buffer is written: write it first.
  if (Status flushed = impl_->flush(); !flushed) {
    log::warn("cannot write metrics; the buffered points are dropped", {{"error", flushed.error().message}});
  }
  std::lock_guard names_lock(impl_->names_mutex);
  const auto found = impl_->names.find(org);
  if (found == impl_->names.end()) return {};
  return {found->second.begin(), found->second.end()};
}

Result<bool> MetricHistory::roll_up_step(std::size_t max_series) { return impl_->roll_up_step(max_series); }

MetricHistoryStats MetricHistory::stats() const {
  MetricHistoryStats stats;
  stats.points_recorded = impl_->points_recorded;
  stats.points_dropped = impl_->points_dropped;
  stats.points_flushed = impl_->points_flushed;
  stats.passes_finished = impl_->passes_finished;
  {
    std::lock_guard buffer_lock(impl_->buffer_mutex);
    stats.buffered_bytes = impl_->buffer.size();
  }
  return stats;
}

}  // namespace muster
