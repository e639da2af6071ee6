#include "eventstore/event_codec.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <random>

namespace muster {
namespace {

Event sample_event() {
  Event event;
  event.position = 300;
  event.stream = "agent-7";
  event.version = 12;
  event.type = "AgentRegistered";
  event.time_ms = 1'700'000'000'123;
  event.schema_version = 2;
  event.data = R"({"hostname":"web-1"})";
  event.meta = R"({"request_id":"r-1"})";
  return event;
}

}  // namespace

TEST_SUITE("event_codec") {
  SCENARIO("an event survives encoding and decoding") {
    GIVEN("an event with every field set") {
      Event event = sample_event();
      THEN("decoding its encoding gives it back, with the format byte first") {
        std::string bytes = event_codec::encode_event(event);
        CHECK(static_cast<std::uint8_t>(bytes.front()) == event_codec::kEventFormat);
        auto decoded = event_codec::decode_event(bytes);
        REQUIRE(decoded.ok());
        CHECK(*decoded == event);
      }
    }
    GIVEN("extreme values: empty strings, negative time, the largest integers") {
      Event event;
      event.position = std::numeric_limits<std::uint64_t>::max();
      event.version = std::numeric_limits<std::uint64_t>::max();
      event.time_ms = std::numeric_limits<TimeMs>::min();
      event.schema_version = std::numeric_limits<std::uint32_t>::max();
      event.data = std::string("\0\xff", 2);
      THEN("they round-trip too") {
        auto decoded = event_codec::decode_event(event_codec::encode_event(event));
        REQUIRE(decoded.ok());
        CHECK(*decoded == event);
      }
    }
  }

  TEST_CASE("decode_event returns corruption for every truncation of a valid encoding") {
    std::string bytes = event_codec::encode_event(sample_event());
    for (std::size_t length = 0; length < bytes.size(); ++length) {
      CAPTURE(length);
      auto decoded = event_codec::decode_event(std::string_view(bytes).substr(0, length));
      REQUIRE_FALSE(decoded.ok());
      CHECK(decoded.error().code == ErrorCode::corruption);
    }
  }

  TEST_CASE("decode_event rejects trailing bytes, an unknown format and oversized fields") {
    std::string valid = event_codec::encode_event(sample_event());
    CHECK(event_codec::decode_event(valid + "x").error().code == ErrorCode::corruption);

    std::string unknown_format = valid;
    unknown_format[0] = 2;
    CHECK(event_codec::decode_event(unknown_format).error().code == ErrorCode::corruption);

    // Format, position 1, then a stream length of 2^63 with no bytes behind it.
    std::string huge_length = "\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
    CHECK(event_codec::decode_event(huge_length).error().code == ErrorCode::corruption);

    // An eleven-byte varint cannot be a 64-bit value.
    std::string overlong_varint = "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
    CHECK(event_codec::decode_event(overlong_varint).error().code == ErrorCode::corruption);
  }

  TEST_CASE("decode_event never crashes on random bytes") {
    std::mt19937 random(20240601);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(0, 64);
    for (int round_idx = 0; round_idx < 5000; ++round_idx) {
      std::string bytes(length(random), '\0');
      for (auto& slot : bytes) slot = static_cast<char>(byte(random));
      // Half the time start with the right format byte so the decoder gets past it.
      if (!bytes.empty() && round_idx % 2 == 0) bytes[0] = static_cast<char>(event_codec::kEventFormat);
      auto decoded = event_codec::decode_event(bytes);
      if (!decoded.ok()) CHECK(decoded.error().code == ErrorCode::corruption);
      auto view = event_codec::decode_event_view(bytes);
      REQUIRE(view.ok() == decoded.ok());
      if (view.ok()) CHECK(view->to_event() == *decoded);
    }
  }

  TEST_CASE("decode_event_view reads in place what decode_event copies") {
    const std::string bytes = event_codec::encode_event(sample_event());
    auto view = event_codec::decode_event_view(bytes);
    REQUIRE(view.ok());
    CHECK(view->to_event() == sample_event());
    const auto inside = [&](std::string_view field) {
      return field.data() >= bytes.data() && field.data() + field.size() <= bytes.data() + bytes.size();
    };
    CHECK(inside(view->stream));
    CHECK(inside(view->type));
    CHECK(inside(view->data));
    CHECK(inside(view->meta));
    CHECK(event_codec::decode_event_view(bytes + "x").error().code == ErrorCode::corruption);
  }

  TEST_CASE("u64 keys are big-endian so that byte order is numeric order") {
    CHECK(event_codec::encode_u64_be(0x0102030405060708) == "\x01\x02\x03\x04\x05\x06\x07\x08");
    CHECK(event_codec::encode_u64_be(255) < event_codec::encode_u64_be(256));
    CHECK(event_codec::decode_u64_be(event_codec::encode_u64_be(42)) == std::uint64_t{42});
    CHECK_FALSE(event_codec::decode_u64_be("short").has_value());
    CHECK(event_codec::stream_version_key("a", 1) == std::string("a\0\0\0\0\0\0\0\0\x01", 10));
    CHECK(event_codec::stream_version_key("a", 2) < event_codec::stream_version_key("a", 256));
  }

  TEST_CASE("a snapshot scope's entries are one key range, apart from every position") {
    using event_codec::snapshot_entries_begin;
    using event_codec::snapshot_entries_end;
    using event_codec::snapshot_entry_key;
    using event_codec::snapshot_position_key;
    CHECK(snapshot_entry_key("agents", "k") == std::string("eagents\0k", 9));
    CHECK(snapshot_position_key("agents") == "pagents");
    const auto in_range = [](const std::string& key, const std::string& scope) {
      return snapshot_entries_begin(scope) <= key && key < snapshot_entries_end(scope);
    };
    for (const std::string& key :
         {std::string(), std::string("\0"), std::string("\xff\xff"), std::string("k")}) {
      CHECK(in_range(snapshot_entry_key("agents", key), "agents"));
      // Scopes that extend or prefix another stay out of its range.
      CHECK_FALSE(in_range(snapshot_entry_key("agents2", key), "agents"));
      CHECK_FALSE(in_range(snapshot_entry_key("agent", key), "agents"));
      CHECK_FALSE(in_range(snapshot_entry_key("agents", key), "agent"));
      CHECK_FALSE(in_range(snapshot_entry_key(std::string("agents\1"), key), "agents"));
    }
    CHECK_FALSE(in_range(snapshot_position_key("agents"), "agents"));
    CHECK(snapshot_position_key("agents") != snapshot_position_key("agents2"));
  }

}  // TEST_SUITE
}  // namespace muster
