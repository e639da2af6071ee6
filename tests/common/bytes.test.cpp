#include <doctest/doctest.h>

#include "common/bytes.hpp"

using namespace muster;

TEST_CASE("fields written to bytes read back, and a damaged input reads as nothing") {
  std::string out;
  bytes::put_varint(out, 300);
  bytes::put_signed(out, -5);
  bytes::put_string(out, "héllo");
  bytes::Reader reader(out);
  CHECK(reader.read_varint() == std::optional<std::uint64_t>(300));
  CHECK(reader.read_signed() == std::optional<std::int64_t>(-5));
  CHECK(reader.read_string() == std::optional<std::string_view>("héllo"));
  CHECK(reader.at_end());
  bytes::Reader cut(std::string_view(out).substr(0, out.size() - 1));
  (void)cut.read_varint();
  (void)cut.read_signed();
  CHECK_FALSE(cut.read_string().has_value());
  const std::string eleven_bytes(11, '\xff');
  bytes::Reader too_long(eleven_bytes);
  CHECK_FALSE(too_long.read_varint().has_value());
}

TEST_CASE("UTF-8 is accepted when well formed, refused otherwise") {
  for (const char* good : {"", "ascii", "h\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    CAPTURE(good);
    CHECK(bytes::is_valid_utf8(good));
  }
  for (const char* bad : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                          "\x80", "a\xe2\x82"}) {
    CAPTURE(bad);
    CHECK_FALSE(bytes::is_valid_utf8(bad));
  }
}
