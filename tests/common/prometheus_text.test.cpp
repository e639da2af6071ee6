// The Prometheus text writer (common/prometheus_text.hpp) and the lock-free
// histogram it reads (common/atomic_histogram.hpp): exact lines for
// families, labels, escaping, values and histograms.

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "common/atomic_histogram.hpp"
#include "common/prometheus_text.hpp"

namespace muster {
namespace {

TEST_CASE("prometheus text: a family's HELP and TYPE lines, then its samples under its name") {
  PrometheusText out;
  out.family("muster_things_total", MetricType::counter, "Things done.");
  out.sample({{"kind", "a"}}, std::uint64_t{3});
  out.sample({{"kind", "b"}, {"code", "200"}}, std::uint64_t{18446744073709551615u});
  out.family("muster_level", MetricType::gauge, "A level.");
  out.sample(0.25);
  CHECK(out.text() ==
        "# HELP muster_things_total Things done.\n"
        "# TYPE muster_things_total counter\n"
        "muster_things_total{kind=\"a\"} 3\n"
        "muster_things_total{kind=\"b\",code=\"200\"} 18446744073709551615\n"
        "# HELP muster_level A level.\n"
        "# TYPE muster_level gauge\n"
        "muster_level 0.25\n");
}

TEST_CASE("prometheus text: label values escape backslash, double quote and line feed, and nothing else") {
  CHECK(escape_label_value(R"(C:\dir)") == R"(C:\\dir)");
  CHECK(escape_label_value("say \"hi\"") == R"(say \"hi\")");
  CHECK(escape_label_value("two\nlines") == R"(two\nlines)");
  CHECK(escape_label_value("tab\there, ünïcode, {braces}=,") == "tab\there, ünïcode, {braces}=,");
  PrometheusText out;
  out.family("muster_x", MetricType::gauge, "x");
  out.sample({{"route", "/a/{id}\"\\\n"}}, std::uint64_t{1});
  CHECK(out.text().find("muster_x{route=\"/a/{id}\\\"\\\\\\n\"} 1\n") != std::string::npos);
}

TEST_CASE("prometheus text: HELP escapes backslash and line feed but keeps double quotes") {
  CHECK(escape_help("a \"quoted\" \\ path\nnext") == "a \"quoted\" \\\\ path\\nnext");
  PrometheusText out;
  out.family("muster_y", MetricType::gauge, "line one\nline two");
  CHECK(out.text() == "# HELP muster_y line one\\nline two\n# TYPE muster_y gauge\n");
}

TEST_CASE(
    "prometheus text: values in their shortest exact form, infinities and NaN spelled as Prometheus reads "
    "them") {
  CHECK(format_metric_value(0.0) == "0");
  CHECK(format_metric_value(1.5) == "1.5");
  CHECK(format_metric_value(5e-06) == "5e-06");
  CHECK(format_metric_value(1e21) == "1e+21");
  CHECK(format_metric_value(-2.0) == "-2");
  CHECK(format_metric_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_metric_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_metric_value(std::nan("")) == "NaN");
}

TEST_CASE(
    "prometheus text: a histogram is cumulative buckets with le, then +Inf equal to the count, _sum and "
    "_count") {
  HistogramSnapshot snapshot;
  snapshot.buckets = {{0.005, 1}, {0.5, 3}, {1, 3}};
  snapshot.sum = 1.75;
  snapshot.count = 4;
  PrometheusText out;
  out.family("muster_wait_seconds", MetricType::histogram, "Waits.");
  out.histogram({{"route", "/x"}}, snapshot);
  CHECK(out.text() ==
        "# HELP muster_wait_seconds Waits.\n"
        "# TYPE muster_wait_seconds histogram\n"
        "muster_wait_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n"
        "muster_wait_seconds_bucket{route=\"/x\",le=\"0.5\"} 3\n"
        "muster_wait_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
        "muster_wait_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
        "muster_wait_seconds_sum{route=\"/x\"} 1.75\n"
        "muster_wait_seconds_count{route=\"/x\"} 4\n");
}

TEST_CASE("prometheus text: a histogram without labels has le as its only label") {
  HistogramSnapshot snapshot;
  snapshot.buckets = {{1, 0}};
  PrometheusText out;
  out.family("muster_batch", MetricType::histogram, "Batches.");
  out.histogram({}, snapshot);
  CHECK(out.text() ==
        "# HELP muster_batch Batches.\n"
        "# TYPE muster_batch histogram\n"
        "muster_batch_bucket{le=\"1\"} 0\n"
        "muster_batch_bucket{le=\"+Inf\"} 0\n"
        "muster_batch_sum 0\n"
        "muster_batch_count 0\n");
}

TEST_CASE(
    "atomic histogram: each observation lands in the first bucket whose bound holds it, read cumulative in "
    "base units") {
  const HistogramBuckets buckets({5, 100, 1'000}, 1e6);
  AtomicHistogram histogram(buckets);
  for (const std::uint64_t microseconds : {0, 5, 6, 100, 999, 1'000, 1'001, 50'000})
    histogram.observe(microseconds);
  const HistogramSnapshot snapshot = histogram.snapshot();
  REQUIRE(snapshot.buckets.size() == 3);
  CHECK(snapshot.buckets[0] == std::make_pair(5e-06, std::uint64_t{2}));
  CHECK(snapshot.buckets[1] == std::make_pair(1e-04, std::uint64_t{4}));
  CHECK(snapshot.buckets[2] == std::make_pair(1e-03, std::uint64_t{6}));
  CHECK(snapshot.count == 8);
  CHECK(histogram.count() == 8);
  CHECK(snapshot.sum == doctest::Approx(0.053111));
  // The bounds print as the numbers they are, not as 5 * 1e-06's rounding.
  CHECK(format_metric_value(snapshot.buckets[0].first) == "5e-06");
}

TEST_CASE("atomic histogram: concurrent observations are all counted") {
  const HistogramBuckets buckets({1, 2}, 1);
  AtomicHistogram histogram(buckets);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < 4; ++thread) {
    threads.emplace_back([&histogram] {
      for (int index = 0; index < 10'000; ++index) histogram.observe(static_cast<std::uint64_t>(index % 4));
    });
  }
  for (std::thread& thread : threads) thread.join();
  const HistogramSnapshot snapshot = histogram.snapshot();
  CHECK(snapshot.count == 40'000);
  CHECK(snapshot.buckets[0].second == 20'000);  // 0 and 1
  CHECK(snapshot.buckets[1].second == 30'000);  // and 2
  CHECK(snapshot.sum == 60'000);
}

}  // namespace
}  // namespace muster
