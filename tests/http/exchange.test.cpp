// Header values as muster reads them: lists, and whether a client takes gzip.

#include <doctest/doctest.h>

#include "http/exchange.hpp"

using namespace muster::http;

TEST_CASE("a header list splits on commas, trimmed, without empty items") {
  CHECK(split_header_list(" \"a\", W/\"b\" ,,\t*\t") == std::vector<std::string_view>{"\"a\"", "W/\"b\"", "*"});
  CHECK(split_header_list("").empty());
  CHECK(trim_whitespace(" \t gzip \t") == "gzip");
}

TEST_CASE("Accept-Encoding admits gzip unless its weight is zero") {
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("deflate, GZIP;q=0.5"));
  CHECK(accepts_gzip("*"));
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("deflate, br"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip; q=0.000"));
}
