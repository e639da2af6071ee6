// The disk under muster fails or lies: writes answer 503 while it fails and
// resume after; damaged or truncated files stop `serve` with a message that
// names them, instead of serving a shortened history.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

/// The largest file in `directory` whose name ends with `suffix`; REQUIREs one.
std::string largest_file(const std::string& directory, const std::string& suffix) {
  std::string found;
  std::uintmax_t found_size = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    const std::string name = entry.path().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        entry.file_size() > found_size) {
      found = name;
      found_size = entry.file_size();
    }
  }
  REQUIRE_MESSAGE(!found.empty(), "no *" << suffix << " file in " << directory);
  return found;
}

void flip_byte_at_middle(const std::string& path) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(file);
  file.seekg(0, std::ios::end);
  const std::streamoff middle = file.tellg() / 2;
  file.seekg(middle);
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5a);
  file.seekp(middle);
  file.write(&byte, 1);
}

void cut_in_half(const std::string& path) {
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
}

/// A data dir holding `count` registered agents, left by SIGTERM (`clean`,
/// events in table files) or by kill -9 (events in the write-ahead log only).
void fill(const std::string& data, int count, bool clean) {
  MusterServer server(data);
  for (int index = 0; index < count; ++index) register_agent(server, fmt::format("host-{}", index));
  if (clean) {
    REQUIRE(server.terminate() == 0);
  } else {
    // The durable-head mark is written at most once a second: wait for it.
    const std::uint64_t head = log_position(server);
    REQUIRE(eventually(
        [&] {
          std::ifstream mark(data + "/DURABLE_HEAD");
          std::uint64_t marked = 0;
          return (mark >> marked) && marked == head;
        },
        std::chrono::seconds(5)));
    server.kill9();
  }
}

/// Runs `serve` on `data`; REQUIREs that it refuses to start, naming `file`.
void check_refuses_to_start(const std::string& data, const std::string& file) {
  const CommandResult serve =
      run_muster({"serve", "--data", data, "--listen", "127.0.0.1:0", "--agent-listen", "off"},
                 std::chrono::seconds(30));
  INFO("stderr: " << serve.err);
  CHECK(serve.exit_code == 1);
  // Refused at open, or at the recovery read that checks every block's checksum.
  const bool refused = serve.err.find("cannot open the event store") != std::string::npos ||
                       serve.err.find("cannot recover agents from the log") != std::string::npos;
  CHECK(refused);
  CHECK(serve.err.find(std::filesystem::path(file).filename().string()) != std::string::npos);
  CHECK(serve.err.find("restore it from a backup") != std::string::npos);
  CHECK(serve.err.find("\"msg\":\"recovered\"") == std::string::npos);
}

}  // namespace

TEST_CASE("disk faults: writes answer 503 STORAGE_UNAVAILABLE, reads go on, writes resume when it clears") {
  TempDir dir;
  const std::string data = dir.file("data");
  const std::string fault = dir.file("disk-is-failing");
  std::string agent_id, token;
  {
    MusterServer server(data, {"--enable-test-hooks", "--test-fail-writes-while", fault});
    const Registered agent = register_agent(server, "host-1");
    agent_id = agent.agent_id;
    const std::uint64_t head = log_position(server);
    { std::ofstream{fault}; }

    const HttpAnswer refused = server.post("/api/v1/agents/register", registration_body("host-2").dump());
    check_error(refused, 503, "STORAGE_UNAVAILABLE");
    CHECK(header_of(refused, "Retry-After") == "1");
    // What failed, and where, is for the log: the client gets a generic message.
    CHECK(refused.body.find(data) == std::string::npos);
    CHECK(refused.body.find("IO error") == std::string::npos);
    CHECK(server.log_text().find("IO error") != std::string::npos);
    check_error(server.post("/api/v1/agents/" + agent_id + "/heartbeat", json{{"status", "degraded"}}.dump()),
                503, "STORAGE_UNAVAILABLE");
    check_error(server.post("/api/v1/enrollment-tokens", json{{"name", "t"}}.dump()), 503,
                "STORAGE_UNAVAILABLE");
    // Reads, and heartbeats that change nothing, are served from memory.
    CHECK(heartbeat(server, agent_id).at("status") == "ONLINE");
    CHECK(get_agent(server, agent_id).at("status") == "ONLINE");
    CHECK(stats(server).at("total") == 1);
    CHECK(log_position(server) == head);
    CHECK(server.log_text().find("injected disk fault") != std::string::npos);

    std::filesystem::remove(fault);
    // The next write resumes the store.
    HttpAnswer resumed;
    REQUIRE(eventually([&] {
      resumed = server.post("/api/v1/agents/register", registration_body("host-2").dump());
      return resumed.status == 201;
    }));
    CHECK(heartbeat(server, agent_id, {{"status", "degraded"}}).at("status") == "DEGRADED");
    REQUIRE(server.terminate() == 0);
  }
  // Only what was acknowledged is in the log, each once.
  MusterServer again(data);
  CHECK(stream_types(again, agent_id) ==
        std::vector<std::string>{"AgentRegistered", "AgentTokenIssued", "AgentStatusChanged"});
  const std::vector<std::string> types = types_of(log_events(again));
  CHECK(std::count(types.begin(), types.end(), "AgentRegistered") == 2);
}

TEST_CASE(
    "disk faults: after an I/O error RocksDB cannot resume from, serve stops cleanly and a restart "
    "recovers") {
  TempDir dir;
  const std::string data = dir.file("data");
  const std::string fault = dir.file("disk-is-failing");
  std::string agent_id;
  {
    MusterServer server(data, {"--enable-test-hooks", "--test-fail-writes-while", fault});
    agent_id = register_agent(server, "host-1").agent_id;
    std::ofstream(fault) << "eio\n";
    check_error(server.post("/api/v1/agents/register", registration_body("host-2").dump()), 503,
                "STORAGE_UNAVAILABLE");
    std::filesystem::remove(fault);
    // The disk is fine again, but RocksDB keeps the error: the next write finds out, and muster stops.
    check_error(server.post("/api/v1/agents/register", registration_body("host-2").dump()), 503,
                "STORAGE_UNAVAILABLE");
    REQUIRE(eventually([&] { return server.log_text().find("\"msg\":\"stopped\"") != std::string::npos; }));
    CHECK(server.log_text().find("cannot take writes again without a restart") != std::string::npos);
    CHECK(server.terminate() == 1);
  }
  MusterServer again(data);
  CHECK(get_agent(again, agent_id).at("status") == "ONLINE");
  CHECK(register_agent(again, "host-2").status == 201);
}

TEST_CASE("corrupt data: a damaged or truncated file stops serve with a message naming it") {
  TempDir dir;
  SUBCASE("a bit flipped in a table file") {
    const std::string data = dir.file("data");
    fill(data, 50, true);
    const std::string table = largest_file(data, ".sst");
    flip_byte_at_middle(table);
    check_refuses_to_start(data, table);
  }
  SUBCASE("a truncated table file") {
    const std::string data = dir.file("data");
    fill(data, 50, true);
    const std::string table = largest_file(data, ".sst");
    cut_in_half(table);
    check_refuses_to_start(data, table);
  }
  SUBCASE("a bit flipped in the middle of the write-ahead log") {
    const std::string data = dir.file("data");
    fill(data, 200, false);
    const std::string wal = largest_file(data, ".log");
    flip_byte_at_middle(wal);
    check_refuses_to_start(data, wal);
  }
  SUBCASE("a write-ahead log cut short of what was durable") {
    const std::string data = dir.file("data");
    fill(data, 200, false);
    cut_in_half(largest_file(data, ".log"));
    check_refuses_to_start(data, "DURABLE_HEAD");
  }
  SUBCASE("and the intact data dir starts") {
    const std::string data = dir.file("data");
    fill(data, 20, false);
    MusterServer server(data);
    CHECK(list_agents(server).size() == 20);
  }
}

}  // namespace muster::e2e
