#include "actors/agent/agent_state_codec.hpp"

#include <cstring>
#include <limits>

#include "common/bytes.hpp"

namespace muster {
namespace {

constexpr std::uint8_t kFormatWithoutWindow = 1;
constexpr std::uint8_t kFormatWithoutReason = 2;
constexpr std::uint8_t kLegacyStream = 1;
constexpr std::uint8_t kHasToken = 2;

void put_raw(std::string& out, const std::uint8_t* data, std::size_t size) {
  out.append(reinterpret_cast<const char*>(data), size);
}

Error corrupt(std::string_view what) {
  return make_error(ErrorCode::corruption, "cannot decode an agent's snapshot: " + std::string(what));
}

template <std::size_t Size>
bool read_array(bytes::Reader& reader, std::array<std::uint8_t, Size>& out) {
  const auto raw = reader.read_raw(Size);
  if (!raw) return false;
  std::memcpy(out.data(), raw->data(), Size);
  return true;
}

// Text that becomes JSON in answers: well-formed UTF-8 only.
bool read_text(bytes::Reader& reader, std::string& out) {
  const auto text = reader.read_string();
  if (!text || !bytes::is_valid_utf8(*text)) return false;
  out.assign(*text);
  return true;
}

bool read_interned(bytes::Reader& reader, InternedString& out) {
  std::string text;
  if (!read_text(reader, text)) return false;
  out = InternedString::of(text);
  return true;
}

bool read_time(bytes::Reader& reader, TimeMs& out) {
  const auto value = reader.read_signed();
  if (!value) return false;
  out = *value;
  return true;
}

bool read_count(bytes::Reader& reader, std::uint64_t& out) {
  const auto value = reader.read_varint();
  if (!value) return false;
  out = *value;
  return true;
}

}  // namespace

std::string encode_agent_state(const AgentState& state) {
  std::string out;
  out.reserve(160 + state.instance_id.size() + state.profile.name.size() + state.profile.hostname.size());
  out.push_back(static_cast<char>(kAgentStateFormat));
  put_raw(out, state.agent_id.bytes().data(), state.agent_id.bytes().size());
  out.push_back(static_cast<char>((state.legacy_stream ? kLegacyStream : 0) |
                                  (state.credentials.has_token ? kHasToken : 0)));
  out.push_back(static_cast<char>(state.status));
  bytes::put_string(out, state.instance_id);
  bytes::put_string(out, *state.org);
  put_raw(out, state.credentials.token.data(), state.credentials.token.size());
  put_raw(out, state.credentials.previous_token.data(), state.credentials.previous_token.size());
  bytes::put_signed(out, state.credentials.previous_valid_until_ms);
  const AgentProfile& profile = state.profile;
  for (const std::string* text : {&profile.name, &profile.hostname, &profile.ip_address, &profile.version.get(),
                                  &profile.type.get()}) {
    bytes::put_string(out, *text);
  }
  bytes::put_varint(out, profile.capabilities->size());
  for (const std::string& capability : *profile.capabilities) bytes::put_string(out, capability);
  bytes::put_varint(out, profile.labels->size());
  for (const auto& [key, value] : *profile.labels) {
    bytes::put_string(out, key);
    bytes::put_string(out, value);
  }
  for (TimeMs time : {state.registered_at_ms, state.status_since_ms, state.online_since_ms, state.updated_at_ms}) {
    bytes::put_signed(out, time);
  }
  // The third count was a config_version that was never set: the config
  // model keeps each agent's now. Written as 0 so older snapshots still read.
  for (std::uint64_t count : {state.version, state.last_position, std::uint64_t{0}}) {
    bytes::put_varint(out, count);
  }
  bytes::put_signed(out, state.change_window_start_ms);
  bytes::put_varint(out, state.changes_in_window);
  out.push_back(static_cast<char>(state.offline_reason));
  return out;
}

Result<AgentState> decode_agent_state(std::string_view encoded) {
  bytes::Reader reader(encoded);
  const auto format = reader.read_byte();
  if (!format || *format < kFormatWithoutWindow || *format > kAgentStateFormat) {
    return corrupt("unknown format");
  }
  AgentState state;
  std::array<std::uint8_t, 16> id{};
  if (!read_array(reader, id)) return corrupt("truncated id");
  state.agent_id = AgentId::from_bytes(id);
  const auto flags = reader.read_byte();
  const auto status = reader.read_byte();
  if (!flags || !status || *status > static_cast<std::uint8_t>(AgentStatus::decommissioned)) {
    return corrupt("bad flags or status");
  }
  state.legacy_stream = (*flags & kLegacyStream) != 0;
  state.credentials.has_token = (*flags & kHasToken) != 0;
  state.status = static_cast<AgentStatus>(*status);
  AgentProfile& profile = state.profile;
  if (!read_text(reader, state.instance_id) || !read_interned(reader, state.org) ||
      !read_array(reader, state.credentials.token) || !read_array(reader, state.credentials.previous_token) ||
      !read_time(reader, state.credentials.previous_valid_until_ms) || !read_text(reader, profile.name) ||
      !read_text(reader, profile.hostname) || !read_text(reader, profile.ip_address) ||
      !read_interned(reader, profile.version) || !read_interned(reader, profile.type)) {
    return corrupt("truncated profile");
  }
  std::uint64_t count = 0;
  if (!read_count(reader, count) || count > encoded.size()) return corrupt("bad capabilities");
  std::vector<std::string> capabilities(count);
  for (std::string& capability : capabilities) {
    if (!read_text(reader, capability)) return corrupt("truncated capabilities");
  }
  profile.capabilities = InternedStrings::of(capabilities);
  if (!read_count(reader, count) || count > encoded.size()) return corrupt("bad labels");
  std::map<std::string, std::string> labels;
  for (std::uint64_t index = 0; index < count; ++index) {
    std::string key;
    std::string value;
    if (!read_text(reader, key) || !read_text(reader, value)) return corrupt("truncated labels");
    labels.emplace(std::move(key), std::move(value));
  }
  profile.labels = InternedLabels::of(labels);
  std::uint64_t unused_count = 0;
  if (!read_time(reader, state.registered_at_ms) || !read_time(reader, state.status_since_ms) ||
      !read_time(reader, state.online_since_ms) || !read_time(reader, state.updated_at_ms) ||
      !read_count(reader, state.version) || !read_count(reader, state.last_position) ||
      !read_count(reader, unused_count)) {
    return corrupt("truncated counters");
  }
  if (*format >= kFormatWithoutReason) {
    std::uint64_t changes = 0;
    if (!read_time(reader, state.change_window_start_ms) || !read_count(reader, changes) ||
        changes > std::numeric_limits<std::uint16_t>::max()) {
      return corrupt("truncated or bad change window");
    }
    state.changes_in_window = static_cast<std::uint16_t>(changes);
  }
  if (*format == kAgentStateFormat) {
    const auto reason = reader.read_byte();
    if (!reason || *reason > static_cast<std::uint8_t>(OfflineReason::agent_disconnect)) {
      return corrupt("truncated or bad offline reason");
    }
    state.offline_reason = static_cast<OfflineReason>(*reason);
  }
  if (!reader.at_end()) return corrupt("trailing bytes");
  return state;
}

}  // namespace muster
