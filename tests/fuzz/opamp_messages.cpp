// OpAMP's AgentToServer as an agent sends it (over HTTP or after a
// WebSocket's 0x00 header): protobuf decoding, then every translation into
// muster's terms (http/opamp/opamp_codec.hpp) that the server applies to it.
//
// Contracts: whatever the message holds, a registration names a valid
// instance id and at most 64 labels, each under the attribute prefix; files
// fit the byte bound and have valid names; a hash is 64 hex digits or
// nothing; health JSON serialises (agents' text may be any bytes).

#include <string>

#include "actors/config/config_files.hpp"
#include "http/opamp/opamp_codec.hpp"
#include "http/request_parsing.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace muster;
using namespace muster::http;

namespace {

constexpr std::size_t kMaxFileBytes = 64 * 1024;

void check(const opamp::AgentToServer& message) {
  std::string uid = message.instance_uid();
  uid.resize(kInstanceUidBytes, '\0');
  FUZZ_REQUIRE(uuid_text(uid).size() == 36);
  if (message.has_agent_description()) {
    const Registration registration = registration_of(message.agent_description(), uid);
    FUZZ_REQUIRE(is_valid_instance_id(registration.instance_id));
    if (registration.labels) {
      FUZZ_REQUIRE(registration.labels->size() <= 64);
      for (const auto& [key, value] : *registration.labels) {
        FUZZ_REQUIRE(key.rfind(kAttributeLabelPrefix, 0) == 0);
        FUZZ_REQUIRE(!has_control_character(value));
      }
    }
    for (const auto* text : {&registration.type, &registration.version, &registration.hostname}) {
      if (*text) FUZZ_REQUIRE(!has_control_character(**text) && (*text)->size() <= 256);
    }
    (void)description_version(message.agent_description());
  }
  if (message.has_health()) {
    const auto health = health_to_json(message.health());
    (void)health.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (message.has_effective_config()) {
    if (const auto files = files_of(message.effective_config().config_map(), kMaxFileBytes)) {
      FUZZ_REQUIRE(total_body_bytes(*files) <= kMaxFileBytes);
      for (const auto& [name, file] : *files) FUZZ_REQUIRE(is_valid_file_name(name));
    }
  }
  if (message.has_remote_config_status()) {
    const std::string hash = hash_hex_of(message.remote_config_status().last_remote_config_hash());
    FUZZ_REQUIRE(hash.empty() || hash.size() == 64);
    (void)report_status_of(message.remote_config_status().status());
  }
  FUZZ_REQUIRE(capability_names(message.capabilities()).size() <= 64);
  (void)agent_error_text(message.custom_message().data()).size();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  route_protobuf_logs();  // as muster serve does: not a line on stderr per bad string
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  opamp::AgentToServer message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  check(message);
  return 0;
}
