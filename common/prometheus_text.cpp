#include "common/prometheus_text.hpp"

#include <cmath>

#include <fmt/format.h>

namespace muster {
namespace {

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

// `text` with `\` and line feeds escaped, and `"` too when `quotes`.
std::string escape(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  return escape(value, true);
}

std::string escape_help(std::string_view help) {
  return escape(help, false);
}

std::string format_metric_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

void PrometheusText::family(std::string_view name, MetricType type, std::string_view help) {
  family_.assign(name);
  fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name,
                 type_name(type));
}

void PrometheusText::sample(MetricLabels labels, std::uint64_t value) {
  write_sample({}, labels, nullptr, fmt::format("{}", value));
}

void PrometheusText::sample(MetricLabels labels, double value) {
  write_sample({}, labels, nullptr, format_metric_value(value));
}

void PrometheusText::histogram(MetricLabels labels, const HistogramSnapshot& histogram) {
  for (const auto& [upper_bound, count] : histogram.buckets) {
    const std::string bound = format_metric_value(upper_bound);
    const MetricLabel le{"le", bound};
    write_sample("_bucket", labels, &le, fmt::format("{}", count));
  }
  const MetricLabel infinity{"le", "+Inf"};
  write_sample("_bucket", labels, &infinity, fmt::format("{}", histogram.count));
  write_sample("_sum", labels, nullptr, format_metric_value(histogram.sum));
  write_sample("_count", labels, nullptr, fmt::format("{}", histogram.count));
}

void PrometheusText::write_sample(std::string_view suffix, MetricLabels labels, const MetricLabel* extra,
                                  std::string_view value) {
  text_ += family_;
  text_ += suffix;
  if (labels.size() > 0 || extra != nullptr) {
    char separator = '{';
    const auto write_label = [&](const MetricLabel& label) {
      text_ += separator;
      text_ += label.name;
      text_ += "=\"";
      text_ += escape_label_value(label.value);
      text_ += '"';
      separator = ',';
    };
    for (const MetricLabel& label : labels) write_label(label);
    if (extra != nullptr) write_label(*extra);
    text_ += '}';
  }
  text_ += ' ';
  text_ += value;
  text_ += '\n';
}

}  // namespace muster
