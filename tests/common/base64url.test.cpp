#include <doctest/doctest.h>

#include "common/base64url.hpp"

using namespace muster;

TEST_CASE("base64url follows RFC 4648 without padding and round-trips any bytes") {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {std::string("\xfb\xff", 2), "-_8"}};
  for (const auto& vector : vectors) {
    const std::string& bytes = vector.first;
    const std::string& text = vector.second;
    CAPTURE(text);
    CHECK(base64url_encode(bytes) == text);
    CHECK(base64url_decode(text) == std::optional<std::string>(bytes));
  }
  CHECK_FALSE(base64url_decode("Zm9v=").has_value());
  CHECK_FALSE(base64url_decode("a+b/").has_value());
}
