#include <doctest/doctest.h>

#include <set>

#include "common/secrets.hpp"

using namespace muster;

TEST_CASE("random tokens are URL-safe, of the asked strength, and do not repeat") {
  std::set<std::string> seen;
  for (int round = 0; round < 1000; ++round) {
    const auto token = random_token(32);
    REQUIRE(token.ok());
    CHECK(token->size() == 43);  // 256 bits in base64url without padding
    CHECK(token->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    CHECK(seen.insert(*token).second);
  }
}

TEST_CASE("random ids are 16 lowercase hex digits and do not repeat") {
  std::set<std::string> seen;
  for (int round = 0; round < 1000; ++round) {
    const auto id = random_id();
    REQUIRE(id.ok());
    CHECK(id->size() == 16);
    CHECK(id->find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(seen.insert(*id).second);
  }
}

TEST_CASE("sha256_hex matches the standard test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("constant_time_equal compares whole strings") {
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("secret", "secret2"));
  CHECK(constant_time_equal("", ""));
}

TEST_CASE("split_credential reads <prefix>_<id>_<secret> with an id of fixed length") {
  const auto parts = split_credential("mk_0123456789abcdef_se_cret", "mk", 16);
  REQUIRE(parts.has_value());
  CHECK(parts->id == "0123456789abcdef");
  CHECK(parts->secret == "se_cret");
  for (const char* bad : {"mk_0123456789abcdef_", "mk_0123456789abcdef", "me_0123456789abcdef_x",
                          "mk0123456789abcdef_x", "mk_0123456789abcde_xy", "", "mk_"}) {
    CAPTURE(bad);
    CHECK_FALSE(split_credential(bad, "mk", 16).has_value());
  }
}

TEST_CASE("a digest reads back from its hex form, and nothing else reads as one") {
  const Sha256 digest = sha256("abc");
  CHECK(to_hex(digest) == sha256_hex("abc"));
  CHECK(sha256_from_hex(to_hex(digest)) == digest);
  std::string upper = to_hex(digest);
  for (char& digit : upper) digit = static_cast<char>(std::toupper(static_cast<unsigned char>(digit)));
  CHECK(sha256_from_hex(upper) == digest);
  for (const std::string& bad : {std::string(), to_hex(digest).substr(1), to_hex(digest) + "0",
                                 "g" + to_hex(digest).substr(1)}) {
    CAPTURE(bad);
    CHECK_FALSE(sha256_from_hex(bad).has_value());
  }
  CHECK(constant_time_equal(digest, sha256("abc")));
  CHECK_FALSE(constant_time_equal(digest, sha256("abd")));
}
