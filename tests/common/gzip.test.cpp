// gzip for OpAMP bodies: what a client gzips comes back whole, and what is
// not gzip, cut short, or too large once inflated is refused.

#include <doctest/doctest.h>

#include "common/gzip.hpp"

using namespace muster;

TEST_CASE("a gzipped body comes back as it was") {
  std::string text;
  for (int index = 0; index < 1000; ++index) text += "receivers: {otlp: {}}\n";
  const std::string packed = gzip_compress(text);
  CHECK(packed.size() < text.size() / 10);
  CHECK(packed.substr(0, 2) == "\x1f\x8b");  // gzip's magic, not zlib's or raw deflate
  const auto unpacked = gzip_decompress(packed, text.size());
  REQUIRE(unpacked.ok());
  CHECK(*unpacked == text);
  CHECK(gzip_decompress(gzip_compress(""), 0).value() == "");
}

TEST_CASE("what is not one whole gzip stream is refused") {
  const std::string packed = gzip_compress("hello");
  CHECK(gzip_decompress("hello", 100).error().code == ErrorCode::invalid_argument);
  CHECK(gzip_decompress(packed.substr(0, packed.size() - 3), 100).error().code == ErrorCode::invalid_argument);
  CHECK(gzip_decompress(packed + "trailing", 100).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("a bomb stops at the bound") {
  const std::string packed = gzip_compress(std::string(10 << 20, 'a'));
  CHECK(packed.size() < 64 * 1024);
  CHECK(gzip_decompress(packed, 1 << 20).error().code == ErrorCode::failed_precondition);
}
