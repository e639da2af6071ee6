// Writes the seed corpora: `fuzz_make_seeds tests/fuzz/corpus`. Events come
// from muster itself (decider, key and token issuers, a real RocksDB store,
// the real encoder), so the seeds track the format when it changes; the text
// seeds are requests and command lines as people type them.

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "opamp.pb.h"
#include "actors/access/credentials.hpp"
#include "actors/agent/agent_decider.hpp"
#include "actors/agent/agent_state_codec.hpp"
#include "actors/api_key/api_key_state.hpp"
#include "actors/enrollment/enrollment_token_state.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/base64url.hpp"
#include "eventstore/event_codec.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "http/request_parsing.hpp"

namespace {

using namespace muster;

constexpr const char* kAgentId = "9a4f82ed-30c0-4871-a5fe-40fcc214df27";

class CorpusWriter {
 public:
  explicit CorpusWriter(std::string root) : root_(std::move(root)) { mkdir(root_.c_str(), 0755); }

  void write(const std::string& target, const std::string& name, const std::string& bytes) {
    const std::string dir = root_ + "/" + target;
    mkdir(dir.c_str(), 0755);
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  }

 private:
  std::string root_;
};

template <class T>
T must(Result<T> result, const char* what) {
  if (!result) {
    std::fprintf(stderr, "%s: %s\n", what, result.error().message.c_str());
    std::exit(1);
  }
  return std::move(*result);
}

std::string frame(const std::string& encoded) {
  std::string framed;
  framed += static_cast<char>(encoded.size() >> 8);
  framed += static_cast<char>(encoded.size() & 0xff);
  return framed + encoded;
}

// Stores typed events as the runtime would.
template <class Variant>
std::vector<NewEvent> encoded(const std::vector<Variant>& events) {
  std::vector<NewEvent> stored;
  for (const Variant& event : events) {
    stored.push_back(encode_payload(event));
    stored.back().meta = "{}";
  }
  return stored;
}

// Appends what the decider returns and keeps the agent's state as the actor
// would. The agent's stream is a bare id, as in data directories from before
// stream kinds (the line histories of event_decoding.cpp use that stream).
struct AgentLife {
  EventStore& store;
  AgentState state;

  void append(Result<std::vector<AgentEvent>> decided) {
    std::vector<AgentEvent> events = must(std::move(decided), "decide");
    if (events.empty()) return;
    const std::uint64_t expected = state.version;
    must(store.append(kAgentId, expected, encoded(events)), "append");
    for (const Event& event : must(store.read_stream(kAgentId, expected + 1, events.size()), "read")) {
      if (!apply(state, event)) std::exit(1);
    }
  }
};

void write_event_seeds(CorpusWriter& corpus, const std::string& data_dir) {
  RocksDbOptions options;
  options.path = data_dir;
  options.durability = Durability::wal;
  auto storage = must(open_rocksdb_storage(options), "open store");
  EventStore* store = &storage->events();

  AgentLife agent{*store, fresh_agent_state(*AgentId::parse(kAgentId))};
  agent.state.legacy_stream = true;
  Registration registration;
  registration.instance_id = "i-0abc123";
  registration.name = "web-1";
  registration.hostname = "web-1.example.com";
  registration.ip_address = "10.0.0.7";
  registration.version = "1.4.2";
  registration.type = "otel-collector";
  registration.capabilities = std::vector<std::string>{"metrics", "logs"};
  registration.labels = std::map<std::string, std::string>{{"env", "prod"}};
  Admission admission;
  admission.enrollment_token_id = "a1b2c3d4e5f60718";
  admission.labels = {{"region", "eu-west-1"}};
  admission.agent_token = sha256("first token");
  agent.append(decide_register(agent.state, registration, admission));
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  degraded.version = "1.4.3";
  agent.append(decide_heartbeat(agent.state, degraded, agent.state.updated_at_ms));
  agent.append(decide_timeout(agent.state, 0, 0, 120'000, agent.state.updated_at_ms + 1));
  agent.append(decide_heartbeat(agent.state, HeartbeatReport{}, agent.state.updated_at_ms));
  agent.append(decide_rotate_token(agent.state, RotatedBy::agent, sha256("second token"),
                                   agent.state.updated_at_ms + 300'000, agent.state.updated_at_ms));
  agent.append(decide_deregister(agent.state));
  agent.append(decide_register(agent.state, registration, admission));
  agent.append(decide_decommission(agent.state));

  const std::string key_id = "a1b2c3d4e5f60718";
  const std::string key_stream = stream_name(kApiKeyKind, key_id);
  must(store->append(key_stream, kNewStream,
                     encoded<ApiKeyEvent>({ApiKeyCreated{key_id, "grafana", Role::viewer, "default", sha256("k")}})),
       "key");
  must(store->append(key_stream, 1, encoded<ApiKeyEvent>({ApiKeyRevoked{}})), "revoke key");
  const std::string token_id = "a1b2c3d4e5f60718";
  const std::string token_stream = stream_name(kEnrollmentKind, token_id);
  must(store->append(token_stream, kNewStream,
                     encoded<EnrollmentEvent>({EnrollmentTokenCreated{
                         token_id, "eu-rollout", "default", {{"region", "eu-west-1"}}, 1'700'000'000'000, 500,
                         sha256("t")}})),
       "token");
  must(store->append(token_stream, 1,
                     encoded<EnrollmentEvent>({EnrollmentTokenUsed{*AgentId::parse(kAgentId), "i-0abc123"}})),
       "use token");
  must(store->append(token_stream, 2, encoded<EnrollmentEvent>({EnrollmentTokenRevoked{}})), "revoke token");

  std::map<std::string, std::vector<std::string>> encoded_by_stream;
  std::map<std::string, std::string> lines_by_stream;
  for (const Event& event : must(store->read_log(1, 1000), "read log")) {
    const std::string encoded = event_codec::encode_event(event);
    encoded_by_stream[event.stream].push_back(encoded);
    lines_by_stream[event.stream] += std::to_string(event.version) + " " + std::to_string(event.time_ms) +
                                     " " + event.type + " " + event.data + "\n";
    corpus.write("event_decoding", "decode-" + event.type + "-v" + std::to_string(event.version),
                 "0" + encoded);
  }
  // Whole histories, every prefix of one, and a history with an event left out.
  const std::map<std::string, std::string> fold_selector = {
      {kAgentId, "2"}, {key_stream, "3"}, {token_stream, "4"}};
  for (const auto& [stream, events] : encoded_by_stream) {
    const std::string selector = fold_selector.at(stream);
    std::string history;
    for (std::size_t count = 0; count < events.size(); ++count) {
      history += frame(events[count]);
      corpus.write("event_decoding", "fold-" + selector + "-first-" + std::to_string(count + 1),
                   selector + history);
    }
    if (events.size() > 1) {
      corpus.write("event_decoding", "fold-" + selector + "-gap", selector + frame(events.back()));
    }
  }

  // The same histories as lines (event_decoding.cpp reads '5' agent, '6' API key, '7' enrollment token).
  for (const auto& [stream, lines] : lines_by_stream) {
    const char selector = fold_selector.at(stream)[0] + 3;
    corpus.write("event_decoding", std::string("lines-") + selector + "-history", selector + lines);
    const std::string first_line = lines.substr(0, lines.find('\n') + 1);
    corpus.write("event_decoding", std::string("lines-") + selector + "-first", selector + first_line);
  }
  corpus.write("event_decoding", "lines-5-unknown-type", "51 0 AgentTeleported {}\n");
  corpus.write("event_decoding", "lines-5-not-an-object", "51 0 AgentRegistered [1,2]\n");
  corpus.write("event_decoding", "lines-6-version-gap", "62 0 ApiKeyRevoked {}\n");
  corpus.write("event_decoding", "lines-7-revoke-first", "71 0 EnrollmentTokenRevoked {}\n");

  // Damaged encodings: the decoder must refuse each one.
  const std::string first = encoded_by_stream.at(kAgentId).front();
  corpus.write("event_decoding", "decode-truncated", "0" + first.substr(0, first.size() / 2));
  corpus.write("event_decoding", "decode-trailing-byte", "0" + first + "x");
  corpus.write("event_decoding", "decode-unknown-format", "0\x02" + first.substr(1));
  corpus.write("event_decoding", "decode-empty", "0");
  // Position 1 as a two-byte varint: longer than needed, still the same event.
  corpus.write("event_decoding", "decode-long-varint",
               "0" + first.substr(0, 1) + std::string("\x81\x00", 2) + first.substr(2));
  corpus.write("event_decoding", "decode-eleven-byte-varint", "0\x01" + std::string(10, '\xff') + "\x01");
  corpus.write("event_decoding", "decode-huge-length", std::string("0\x01\x01\xff\xff\xff\xff\x0f", 8));
  corpus.write("event_decoding", "encode-fields", "1" + std::string(24, '\x07') + "stream\\ type\\ {}\\ {}");
  corpus.write("event_decoding", "encode-empty", "1");
  corpus.write("event_decoding", "fold-2-not-first-registered",
               "2" + frame(encoded_by_stream.at(kAgentId)[2]));
  // Snapshots of the agent's state as its life went (event_decoding.cpp reads '8').
  AgentState replayed;
  for (const Event& event : must(store->read_stream(kAgentId, 1, 1000), "read")) {
    if (!apply(replayed, event)) std::exit(1);
    corpus.write("event_decoding", "snapshot-v" + std::to_string(replayed.version),
                 "8" + encode_agent_state(replayed));
  }
  corpus.write("event_decoding", "snapshot-truncated", "8" + encode_agent_state(replayed).substr(0, 40));
}

void write_text_seeds(CorpusWriter& corpus) {
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"register-readme",
       R"(0{"instance_id": "i-0abc123", "name": "web-1", "hostname": "web-1.example.com", "ip_address": "10.0.0.7", "version": "1.4.2", "type": "otel-collector", "capabilities": ["metrics", "logs"], "labels": {"env": "prod"}})"},
      {"register-minimal", R"(0{"instance_id":"i-1"})"},
      {"register-ipv6", R"(0{"instance_id":"host:7","ip_address":"fe80::1"})"},
      {"register-bad-ip", R"(0{"instance_id":"i-1","ip_address":"10.0.0.300"})"},
      {"register-no-instance", R"(0{"name":"web-1"})"},
      {"register-bad-instance", R"(0{"instance_id":"i 1/2"})"},
      {"register-wrong-types", R"(0{"instance_id":7,"name":[],"capabilities":"x","labels":[]})"},
      {"register-bad-label-key", R"(0{"instance_id":"i-1","labels":{"bad key":"v"}})"},
      {"register-null-fields", R"(0{"instance_id":"i-1","name":null,"labels":null})"},
      {"register-unicode", R"(0{"instance_id":"i-1","name":"w\u00e9b \ud83d\ude00"})"},
      {"register-array-body", R"(0["instance_id"])"},
      {"register-malformed", R"(0{"instance_id":)"},
      {"register-empty", "0"},
      {"heartbeat-readme",
       R"(1{"status": "degraded", "version": "1.4.3", "metrics": {"cpu": 0.82, "queue_len": 1200}})"},
      {"heartbeat-empty", "1"},
      {"heartbeat-blank", "1 \r\n\t"},
      {"heartbeat-online", R"(1{"status":"ONLINE"})"},
      {"heartbeat-offline", R"(1{"status":"offline"})"},
      {"heartbeat-huge-metric", R"(1{"metrics":{"cpu":1e400}})"},
      {"heartbeat-bad-metric-name", R"(1{"metrics":{"":1}})"},
      {"heartbeat-metric-string", R"(1{"metrics":{"cpu":"high"}})"},
      {"api-key-viewer", R"(2{"name": "grafana", "role": "viewer"})"},
      {"api-key-all-orgs", R"(2{"name":"ops","role":"admin","org":"*"})"},
      {"api-key-org", R"(2{"name":"ops","role":"operator","org":"team-a.eu"})"},
      {"api-key-bad-role", R"(2{"name":"ops","role":"root"})"},
      {"api-key-no-name", R"(2{"role":"viewer"})"},
      {"api-key-bad-org", R"(2{"name":"x","role":"viewer","org":"a b"})"},
      {"token-readme",
       R"(3{"name": "eu-rollout", "expires_in": "7d", "max_uses": 500, "labels": {"region": "eu-west-1"}})"},
      {"token-minimal", R"(3{"name":"t"})"},
      {"token-org", R"(3{"name":"t","org":"acme","expires_in":"12h"})"},
      {"token-all-orgs", R"(3{"name":"t","org":"*"})"},
      {"token-too-short", R"(3{"name":"t","expires_in":"999ms"})"},
      {"token-too-long", R"(3{"name":"t","expires_in":"3661d"})"},
      {"token-max-uses-zero", R"(3{"name":"t","max_uses":0})"},
      {"token-max-uses-float", R"(3{"name":"t","max_uses":1.5})"},
      {"token-max-uses-huge", R"(3{"name":"t","max_uses":18446744073709551615})"},
      {"token-max-uses-negative", R"(3{"name":"t","max_uses":-1})"},
      {"command-readme",
       R"(4{"type": "upgrade", "params": {"version": "2.1.0"}, "priority": "normal", "expires_in": "6h", "idempotency_key": "upgrade-2.1.0"})"},
      {"command-emergency", R"(4{"type":"shutdown","priority":"emergency","not_before":"2026-12-01T10:00:00Z"})"},
      {"command-bad-type", R"(4{"type":"Restart!","params":[]})"},
      {"command-long-expiry", R"(4{"type":"restart","expires_in":"31d"})"},
      {"batch-labels", R"(5{"selector":{"labels":{"env":"prod"}},"type":"restart","expires_in":"2h"})"},
      {"batch-ids", R"(5{"selector":{"agent_ids":["9a4f82ed-30c0-4871-a5fe-40fcc214df27"],"status":"ONLINE"},"type":"request_diagnostics"})"},
      {"batch-no-selector", R"(5{"type":"restart","idempotency_key":"k"})"},
      {"assignment-full", R"(6{"config":"collector","version":3,"policies":["audit",{"name":"fim","version":"latest"}],"settings":{"log_level":"debug","commands":{"restart":{"enabled":false}}}})"},
      {"assignment-bad-version", R"(6{"version":0,"policies":[1]})"},
  };
  for (const auto& [name, bytes] : bodies) corpus.write("request_bodies", name, bytes);

  const std::string agent_id = kAgentId;
  const AgentId parsed_agent_id = *AgentId::parse(agent_id);
  const std::vector<std::pair<std::string, std::string>> queries = {
      {"list-readme", "0/api/v1/agents?status=ONLINE&label=env=prod&limit=50"},
      {"list-all-filters",
       "0/api/v1/agents?org=acme&status=degraded&version=1.4.2&type=otel&q=web&limit=1000"},
      {"list-cursor", "0/api/v1/agents?cursor=" + http::encode_cursor(parsed_agent_id)},
      {"list-bad-cursor", "0/api/v1/agents?cursor=not-a-cursor!"},
      {"list-escapes", "0/api/v1/agents?q=a%20b+c&label=k%3Dv&x=%zz%4"},
      {"list-limit-zero", "0/api/v1/agents?limit=0"},
      {"list-limit-large", "0/api/v1/agents?limit=1001"},
      {"list-bad-label", "0/api/v1/agents?label=novalue&label==v"},
      {"list-bad-status", "0/api/v1/agents?status=DEREGISTERED"},
      {"list-fragment", "0/api/v1/agents?org=a#b&limit=x"},
      {"events-paging", "0/api/v1/events?from_position=18446744073709551615&limit=100&type=AgentWentOffline"},
      {"events-overflow", "0/api/v1/agents/x/events?from_version=18446744073709551616"},
      {"no-query", "0/api/v1/stats"},
      {"empty-pairs", "0/?&&=&a"},
      {"uint-max", "118446744073709551615\n18446744073709551615"},
      {"uint-limit", "11000\n1000"},
      {"uint-over", "11000\n1001"},
      {"uint-leading-zeros", "11000\n0000000000000000007"},
      {"uint-small-max", "15\n4"},
      {"uint-not-digits", "1100\n-1"},
      {"cursor-valid", "2" + http::encode_cursor(parsed_agent_id)},
      {"cursor-not-uuid", "2" + base64url_encode("hello")},
      {"cursor-bad-alphabet", "2abc+/="},
      {"cursor-empty", "2"},
      {"cursor-uuid", "2" + agent_id},
      {"name-agent-id", "3" + agent_id},
      {"name-upper-agent-id", "39A4F82ED-30C0-4871-A5FE-40FCC214DF27"},
      {"name-instance", "3i-0abc123:eu"},
      {"name-org", "3team-a.eu_1"},
      {"name-empty", "3"},
      {"name-long", "3" + std::string(129, 'a')},
      {"name-non-ascii", "3caf\xc3\xa9"},
      {"route-heartbeat", "4POST /api/v1/agents/" + agent_id + "/heartbeat"},
      {"route-get-agent", "4GET /api/v1/agents/" + agent_id + "/"},
      {"route-head", "4HEAD /api/v1/stats"},
      {"route-wrong-method", "4PUT /api/v1/agents/" + agent_id},
      {"route-delete-key", "4DELETE /api/v1/api-keys/a1b2c3d4e5f60718"},
      {"route-empty-segment", "4GET /api/v1//agents"},
      {"route-unknown", "4GET /nothing/here"},
      {"route-root", "4GET /"},
  };
  for (const auto& [name, bytes] : queries) corpus.write("query_and_path", name, bytes);

  const NewCredential api_key = must(new_credential(kApiKeyPrefix), "credential");
  const NewCredential enrollment = must(new_credential(kEnrollmentTokenPrefix), "credential");
  const IssuedAgentToken agent_token = must(issue_agent_token(parsed_agent_id), "agent token");
  const std::vector<std::pair<std::string, std::string>> credentials = {
      {"api-key", "0" + api_key.plaintext},
      {"api-key-as-enrollment", "1" + api_key.plaintext},
      {"api-key-upper-id", "0mk_A1B2C3D4E5F60718_secret"},
      {"api-key-short-id", "0mk_a1b2c3_secret"},
      {"api-key-no-secret", "0mk_a1b2c3d4e5f60718_"},
      {"api-key-no-separator", "0mk_a1b2c3d4e5f60718secret"},
      {"api-key-empty", "0"},
      {"enrollment-token", "1" + enrollment.plaintext},
      {"enrollment-underscore-secret", "1me_a1b2c3d4e5f60718___"},
      {"agent-token", "2" + agent_token.plaintext},
      {"agent-token-short-id", "2ma_9a4f82ed_secret"},
      {"agent-token-wrong-prefix", "2mk_" + agent_id + "_secret"},
      {"split-basic", "3" + std::string("4:pre:pre_abcd_secret")},
      {"split-empty-prefix", "3" + std::string("0::__s")},
      {"split-long-id", "3" + std::string("999:x:x_abc_s")},
      {"split-zero-id", "3" + std::string("0:mk:mk__s")},
      {"split-prefix-underscore", "3" + std::string("2:a_b:a_b_xy_s")},
      {"split-no-secret", "3" + std::string("2:p:p_xy_")},
      {"api-key-wrong-prefix", "0me_a1b2c3d4e5f60718_secret"},
      {"api-key-prefix-only", "0mk"},
      {"api-key-prefix-underscore", "0mk_"},
      {"api-key-with-scheme", "0Bearer " + api_key.plaintext},
      {"api-key-trailing-newline", "0" + api_key.plaintext + "\n"},
      {"api-key-underscore-in-id", "0mk_a1b2c3d4_5f60718_secret"},
      {"enrollment-as-api-key", "0" + enrollment.plaintext},
      {"enrollment-long-secret", "1me_a1b2c3d4e5f60718_" + std::string(300, 'A')},
      {"agent-token-upper-id", "2ma_9A4F82ED-30C0-4871-A5FE-40FCC214DF27_secret"},
      {"agent-token-no-secret", "2ma_" + agent_id + "_"},
      {"agent-token-underscore-id", "2ma_" + std::string(36, '_') + "_secret"},
      {"agent-token-nul-in-secret", "2ma_" + agent_id + std::string("_se\0cret", 8)},
  };
  for (const auto& [name, bytes] : credentials) corpus.write("credentials", name, bytes);

  using namespace std::string_literals;
  const std::vector<std::pair<std::string, std::string>> command_lines = {
      {"duration-ms", "0500ms"},
      {"duration-seconds", "030s"},
      {"duration-minutes", "05m"},
      {"duration-hours", "012h"},
      {"duration-days", "036500d"},
      {"duration-too-long", "036501d"},
      {"duration-zero", "00s"},
      {"duration-no-unit", "030"},
      {"duration-bad-unit", "01w"},
      {"duration-signed", "0-5s"},
      {"duration-overflow", "099999999999999999999999ms"},
      {"duration-empty", "0"},
      {"time-utc", "12026-11-22T05:51:00Z"},
      {"time-millis", "12026-11-22T05:51:00.123Z"},
      {"time-offset", "12026-11-22T05:51:00.5+05:30"},
      {"time-negative-offset", "11969-12-31 23:59:59.999999-00:01"},
      {"time-lowercase", "12024-02-29t00:00:00z"},
      {"time-leap-second", "12016-12-31T23:59:60Z"},
      {"time-year-zero", "10000-01-01T00:00:00Z"},
      {"time-year-9999", "19999-12-31T23:59:59.999Z"},
      {"time-not-leap", "12023-02-29T00:00:00Z"},
      {"time-no-zone", "12026-11-22T05:51:00"},
      {"time-empty-fraction", "12026-11-22T05:51:00.Z"},
      {"time-bad-offset", "12026-11-22T05:51:00+24:00"},
      {"format-epoch", "2" + std::string(8, '\0')},
      {"format-negative", "2\xff\xff\xff\xff\xff\xff\xff\xff"s},
      {"format-min", "2\0\0\0\0\0\0\0\x80"s},
      {"serve-readme", "3--listen\000127.0.0.1:9000"s},
      {"serve-all",
       "3--data\0/var/lib/muster\0--listen=[::1]:8080\0--heartbeat-timeout\0002m\0--durability\0wal\0"
       "--http-threads\00016\0--log-level\0debug\0--healthy-within\00030s\0--warning-within\0005m\0"
       "--auth-failures-per-minute\00050\0--agent-token-grace\0001h\0--enable-test-hooks"s},
      {"serve-tls", "3--tls-cert\0cert.pem\0--tls-key\0key.pem"s},
      {"serve-tls-half", "3--tls-cert\0cert.pem"s},
      {"serve-bad-port", "3--listen\0host:65536"s},
      {"serve-health-order", "3--healthy-within\00010m\0--warning-within\0001m"s},
      {"serve-missing-value", "3--data"},
      {"serve-unknown", "3--verbose"},
      {"serve-zero-duration", "3--heartbeat-timeout=0s"s},
      {"replay-agent", "4--agent\0" + agent_id + "\0--since\0002026-01-01T00:00:00Z\0--format\0table"s},
      {"replay-at", "4--instance=i-0abc123\0--at=2026-11-22T05:51:00Z"s},
      {"replay-at-alone", "4--at\0002026-11-22T05:51:00Z"s},
      {"replay-both", "4--agent\0" + agent_id + "\0--instance\0i-1"s},
      {"replay-bad-time", "4--until\0yesterday"s},
      {"keys-create", "5--name\0ci\0--role\0operator\0--org\0*"s},
      {"keys-create-data", "5--data=/tmp/d\0--role=admin\0--name=root"s},
      {"keys-missing-role", "5--name\0ci"s},
      {"keys-bad-org", "5--name\0ci\0--role\0viewer\0--org\0a/b"s},
  };
  for (const auto& [name, bytes] : command_lines) corpus.write("cli_and_time", name, bytes);
}

// AgentToServer messages as OpAMP clients send them: a first full state, a
// compressed heartbeat, a status change, a disconnect, a command's result.
void write_opamp_seeds(CorpusWriter& corpus) {
  namespace wire = muster::opamp;
  const std::string uid("\x01\x8f\x1d\x2a\x44\x55\x76\x01\x80\x01\x02\x03\x04\x05\x06\x07", 16);
  wire::AgentToServer full;
  full.set_instance_uid(uid);
  full.set_sequence_num(1);
  full.set_capabilities(0x3c07);
  const auto attribute = [](auto* list, const char* key, const char* value) {
    auto* entry = list->Add();
    entry->set_key(key);
    entry->mutable_value()->set_string_value(value);
  };
  auto* description = full.mutable_agent_description();
  attribute(description->mutable_identifying_attributes(), "service.name", "otelcol");
  attribute(description->mutable_identifying_attributes(), "service.version", "0.98.0");
  attribute(description->mutable_identifying_attributes(), "service.instance.id", "collector-7");
  attribute(description->mutable_non_identifying_attributes(), "host.name", "web-1");
  attribute(description->mutable_non_identifying_attributes(), "os.type", "linux");
  auto* health = full.mutable_health();
  health->set_healthy(false);
  health->set_last_error("exporter otlp: connection refused");
  (*health->mutable_component_health_map())["exporter/otlp"].set_healthy(false);
  auto* files = full.mutable_effective_config()->mutable_config_map()->mutable_config_map();
  (*files)["collector.yaml"].set_body("receivers: {otlp: {}}\n");
  (*files)["collector.yaml"].set_content_type("text/yaml");
  auto* status = full.mutable_remote_config_status();
  status->set_last_remote_config_hash(std::string(32, '\x5a'));
  status->set_status(wire::RemoteConfigStatuses_FAILED);
  status->set_error_message("bad receiver");
  full.mutable_custom_capabilities()->add_capabilities("io.muster.command.collect_logs");
  corpus.write("opamp_messages", "full_state", full.SerializeAsString());

  wire::AgentToServer heartbeat;
  heartbeat.set_instance_uid(uid);
  heartbeat.set_sequence_num(2);
  corpus.write("opamp_messages", "heartbeat", heartbeat.SerializeAsString());

  wire::AgentToServer leaving = heartbeat;
  leaving.mutable_agent_disconnect();
  leaving.set_flags(wire::AgentToServerFlags_RequestInstanceUid);
  corpus.write("opamp_messages", "disconnect", leaving.SerializeAsString());

  wire::AgentToServer result = heartbeat;
  auto* message = result.mutable_custom_message();
  message->set_capability("io.muster.command.collect_logs");
  message->set_type("result");
  message->set_data(R"({"command_id":"c1","status":"succeeded","exit_code":0})");
  corpus.write("opamp_messages", "command_result", result.SerializeAsString());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  CorpusWriter corpus(argv[1]);
  char data_dir[] = "/tmp/muster-seeds-XXXXXX";
  if (mkdtemp(data_dir) == nullptr) return 1;
  write_event_seeds(corpus, data_dir);
  write_text_seeds(corpus);
  write_opamp_seeds(corpus);
  std::filesystem::remove_all(data_dir);
  return 0;
}
