#pragma once
/// Writes Prometheus' text exposition format, version 0.0.4: the answer to
/// a scrape of /metrics.
///
/// A document is a sequence of metric families. `family()` opens one with
/// its `# HELP` and `# TYPE` lines; the samples written after it belong to
/// it and carry its name (a counter's name ends in `_total`, and so does
/// its family's: that is what 0.0.4 and `promtool check metrics` expect).
/// A histogram's sample is written whole by `histogram()`: one
/// `<name>_bucket` line per upper bound (label `le`), ascending and
/// cumulative, then `le="+Inf"` (equal to the count), `<name>_sum` and
/// `<name>_count`.
///
/// Label values and help texts are escaped here (`escape_label_value`,
/// `escape_help`); metric and label names are the caller's constants and
/// must already follow the format (`[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
/// without ':'; `le` is reserved for histograms). Each family is opened
/// once per document.
///
/// Not thread-safe: one writer per document, which it builds in memory.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace muster {

/// The content type of a document this writer produces.
inline constexpr std::string_view kPrometheusTextContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { counter, gauge, histogram };

struct MetricLabel {
  std::string_view name;
  std::string_view value;
};
using MetricLabels = std::initializer_list<MetricLabel>;

/// What a histogram holds at one moment, in the metric's base unit.
struct HistogramSnapshot {
  /// (upper bound, observations <= it), by ascending bound, counts
  /// cumulative; the +Inf bucket is implied by `count`.
  std::vector<std::pair<double, std::uint64_t>> buckets;
  double sum = 0;
  std::uint64_t count = 0;
};

class PrometheusText {
 public:
  /// Opens the family `name`: its HELP (escaped) and TYPE lines.
  void family(std::string_view name, MetricType type, std::string_view help);

  /// One sample of the open counter or gauge family. Integers are written
  /// exactly; doubles in their shortest exact form, NaN and infinities as
  /// `NaN`, `+Inf`, `-Inf`.
  void sample(MetricLabels labels, std::uint64_t value);
  void sample(MetricLabels labels, double value);
  void sample(std::uint64_t value) { sample({}, value); }
  void sample(double value) { sample({}, value); }

  /// One histogram of the open histogram family, with `labels` (besides `le`).
  void histogram(MetricLabels labels, const HistogramSnapshot& histogram);

  const std::string& text() const { return text_; }
  std::string take() { return std::move(text_); }

 private:
  void write_sample(std::string_view suffix, MetricLabels labels, const MetricLabel* extra,
                    std::string_view value);

  std::string text_;
  std::string family_;
};

/// A label value as 0.0.4 quotes it: `\` as `\\`, `"` as `\"`, a line feed as `\n`.
std::string escape_label_value(std::string_view value);

/// A HELP text as 0.0.4 writes it: `\` as `\\`, a line feed as `\n`.
std::string escape_help(std::string_view help);

/// A sample value (or an `le` bound) as this writer formats it.
std::string format_metric_value(double value);

}  // namespace muster
