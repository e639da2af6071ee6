#include <doctest/doctest.h>

#include "common/percent_encoding.hpp"

using namespace muster;

TEST_CASE("url_encode keeps unreserved characters and writes every other byte as %XX") {
  CHECK(url_encode("") == "");
  CHECK(url_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(url_encode("env=prod&x y") == "env%3Dprod%26x%20y");
  CHECK(url_encode("a/../b?#") == "a%2F..%2Fb%3F%23");
  CHECK(url_encode("é") == "%C3%A9");
  CHECK(url_encode(std::string("\0\n", 2)) == "%00%0A");
}
