// Events as recovery reads them from the store: decoded, then folded. Input:
// '0' one encoded event, '1' fields of an event to encode (FuzzedDataProvider),
// then a history folded into one aggregate: '2' agent, '3' API key, '4'
// enrollment token as frames (a 2-byte big-endian length and an encoded
// event each); '5', '6', '7' the same as lines "<version> <time_ms> <type> <data>",
// which mutations reshape far more easily than length-prefixed bytes; '8' an
// agent's state as a snapshot stores it.
//
// The codec must round-trip (decoding in place and to a copy alike), and a
// fold must either accept an event and move the aggregate to its version, or
// refuse it with `corruption` and leave the aggregate as it was: a
// half-applied event would make replicas disagree. A snapshot either decodes
// to a state that encodes to the same bytes, or is refused with `corruption`.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_state.hpp"
#include "actors/agent/agent_state_codec.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "eventstore/event_codec.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace codec = muster::event_codec;

// The streams line histories belong to; the agent's is the agent_id in make_seeds.cpp's events.
const std::string kAgentStream = "9a4f82ed-30c0-4871-a5fe-40fcc214df27";
const std::string kApiKeyStream = "apikey:a1b2c3d4e5f60718";
const std::string kEnrollmentStream = "enrollment:a1b2c3d4e5f60718";

void require_corruption(const muster::Status& status) {
  FUZZ_REQUIRE(status.error().code == muster::ErrorCode::corruption);
  FUZZ_REQUIRE(!status.error().message.empty());
}

void check_decode(std::string_view bytes) {
  const auto decoded = codec::decode_event(bytes);
  // Decoding in place accepts exactly what decoding to a copy does, and reads the same event.
  const auto view = codec::decode_event_view(bytes);
  FUZZ_REQUIRE(view.ok() == decoded.ok());
  if (!decoded) {
    FUZZ_REQUIRE(decoded.error().code == muster::ErrorCode::corruption);
    FUZZ_REQUIRE(view.error().code == muster::ErrorCode::corruption);
    return;
  }
  FUZZ_REQUIRE(view->to_event() == *decoded);
  for (const std::string_view field : {view->stream, view->type, view->data, view->meta}) {
    FUZZ_REQUIRE(field.data() >= bytes.data() && field.data() + field.size() <= bytes.data() + bytes.size());
  }
  // Varints may arrive longer than needed, so only the event, not the bytes, must survive.
  const std::string encoded = codec::encode_event(*decoded);
  FUZZ_REQUIRE(encoded.size() <= bytes.size());
  const auto again = codec::decode_event(encoded);
  FUZZ_REQUIRE(again && *again == *decoded);
}

void check_encode(FuzzedDataProvider& input) {
  muster::Event event;
  event.position = input.ConsumeIntegral<std::uint64_t>();
  event.version = input.ConsumeIntegral<std::uint64_t>();
  event.time_ms = input.ConsumeIntegral<muster::TimeMs>();
  event.schema_version = input.ConsumeIntegral<std::uint32_t>();
  event.stream = input.ConsumeRandomLengthString(256);
  event.type = input.ConsumeRandomLengthString(64);
  event.data = input.ConsumeRandomLengthString(1024);
  event.meta = input.ConsumeRemainingBytesAsString();
  const std::string encoded = codec::encode_event(event);
  FUZZ_REQUIRE(!encoded.empty() && static_cast<std::uint8_t>(encoded[0]) == codec::kEventFormat);
  const auto decoded = codec::decode_event(encoded);
  FUZZ_REQUIRE(decoded && *decoded == event);
  // Truncation anywhere must be noticed.
  FUZZ_REQUIRE(!codec::decode_event(std::string_view(encoded).substr(0, encoded.size() - 1)));

  FUZZ_REQUIRE(codec::decode_u64_be(codec::encode_u64_be(event.position)) == event.position);
  const std::string key = codec::stream_version_key(event.stream, event.version);
  const std::string prefix = codec::stream_key_prefix(event.stream);
  FUZZ_REQUIRE(key.size() == event.stream.size() + 9 && key.compare(0, prefix.size(), prefix) == 0);
  FUZZ_REQUIRE(codec::decode_u64_be(std::string_view(key).substr(prefix.size())) == event.version);
}

// The events of each frame that decodes; frames that do not are the codec's to refuse.
std::vector<muster::Event> framed_events(std::string_view frames) {
  std::vector<muster::Event> events;
  while (frames.size() >= 2) {
    const std::size_t length =
        static_cast<std::uint8_t>(frames[0]) << 8 | static_cast<std::uint8_t>(frames[1]);
    frames.remove_prefix(2);
    const std::string_view bytes = frames.substr(0, length);
    frames.remove_prefix(bytes.size());
    if (auto event = codec::decode_event(bytes)) events.push_back(std::move(*event));
  }
  return events;
}

std::optional<std::int64_t> leading_number(std::string_view& line) {
  const std::size_t space = line.find(' ');
  if (space == 0 || space == std::string_view::npos || space > 20) return std::nullopt;
  const std::string number(line.substr(0, space));
  line.remove_prefix(space + 1);
  char* end = nullptr;
  const long long value = std::strtoll(number.c_str(), &end, 10);
  if (end != number.c_str() + number.size()) return std::nullopt;
  return value;
}

// Lines "<version> <time_ms> <type> <data>" of `stream`; other lines are skipped.
std::vector<muster::Event> line_events(std::string_view text, const std::string& stream) {
  std::vector<muster::Event> events;
  for (std::size_t line_number = 1; !text.empty(); ++line_number) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(text.size(), line.size() + 1));
    const auto version = leading_number(line);
    const auto time_ms = version ? leading_number(line) : std::nullopt;
    const std::size_t space = line.find(' ');
    if (!time_ms || space == std::string_view::npos) continue;
    muster::Event event;
    event.position = line_number;
    event.stream = stream;
    event.version = static_cast<std::uint64_t>(*version);
    event.time_ms = *time_ms;
    event.type = line.substr(0, space);
    event.data = line.substr(space + 1);
    event.meta = "{}";
    events.push_back(std::move(event));
  }
  return events;
}

void fold_agent(const std::vector<muster::Event>& events) {
  muster::AgentState state;
  for (const muster::Event& event : events) {
    const muster::AgentState before = state;
    const muster::Status applied = apply(state, event);
    if (!applied) {
      require_corruption(applied);
      FUZZ_REQUIRE(state == before);
      continue;
    }
    FUZZ_REQUIRE(state.version == event.version && state.last_position == event.position);
    FUZZ_REQUIRE(state.stream() == event.stream && state.updated_at_ms == event.time_ms);
    FUZZ_REQUIRE(state.status != muster::AgentStatus::unregistered);
    // The API shows this; a throw would turn GET /agents/{id} into a 500.
    FUZZ_REQUIRE(!to_json(state).dump().empty());
  }
}

void fold_api_key(const std::vector<muster::Event>& events) {
  muster::ApiKey key;
  for (const muster::Event& event : events) {
    const muster::ApiKey before = key;
    const muster::Status applied = apply(key, event);
    if (!applied) {
      require_corruption(applied);
      FUZZ_REQUIRE(key == before);
      continue;
    }
    FUZZ_REQUIRE(key.version == event.version);
    FUZZ_REQUIRE(muster::parse_role(muster::to_string(key.role)) == key.role);
    FUZZ_REQUIRE(!key.org.empty());
  }
}

void fold_enrollment_token(const std::vector<muster::Event>& events) {
  muster::EnrollmentToken token;
  for (const muster::Event& event : events) {
    const muster::EnrollmentToken before = token;
    const muster::Status applied = apply(token, event);
    if (!applied) {
      require_corruption(applied);
      FUZZ_REQUIRE(token == before);
      continue;
    }
    FUZZ_REQUIRE(token.version == event.version);
    FUZZ_REQUIRE(!token.revoked || token.version >= 2);
  }
}

void check_agent_snapshot(std::string_view bytes) {
  const auto state = muster::decode_agent_state(bytes);
  if (!state) {
    require_corruption(muster::Status(state.error()));
    return;
  }
  // Varints may arrive longer than needed: the state, not the bytes, must survive.
  const auto again = muster::decode_agent_state(muster::encode_agent_state(*state));
  FUZZ_REQUIRE(again && *again == *state);
  FUZZ_REQUIRE(!to_json(*state).dump().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto selected = muster::fuzz::select_parser(data, size, 9);
  if (!selected) return 0;
  switch (selected->parser) {
    case 0: check_decode(selected->text); break;
    case 1: {
      FuzzedDataProvider input(data + 1, size - 1);
      check_encode(input);
      break;
    }
    case 2: fold_agent(framed_events(selected->text)); break;
    case 3: fold_api_key(framed_events(selected->text)); break;
    case 4: fold_enrollment_token(framed_events(selected->text)); break;
    case 5: fold_agent(line_events(selected->text, kAgentStream)); break;
    case 6: fold_api_key(line_events(selected->text, kApiKeyStream)); break;
    case 7: fold_enrollment_token(line_events(selected->text, kEnrollmentStream)); break;
    case 8: check_agent_snapshot(selected->text); break;
  }
  return 0;
}
