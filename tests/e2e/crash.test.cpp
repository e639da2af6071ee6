// kill -9 in the middle of concurrent registrations loses nothing that was
// acknowledged, and leaves a log without gaps or duplicates that the next
// server recovers from. With `--durability fsync` this holds for power loss
// too; a process crash is what we can cause here, and with `--durability wal`
// it must hold for that as well.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

using namespace std::chrono_literals;

constexpr int kClientThreads = 8;
constexpr std::size_t kMaxRegistrations = 3000;

void check_kill9_loses_nothing_acknowledged(const std::string& durability) {
  TempDir dir;
  const std::string data = dir.file("data");
  const std::vector<std::string> options = {"--durability", durability};
  std::vector<RegistrationLoad::Ack> acks;
  {
    MusterServer server(data, options);
    RegistrationLoad load(server, kClientThreads);
    REQUIRE(eventually([&] { return load.ack_count() >= kClientThreads; }, 30s));
    // About 1.5 s of load, or fewer if it is fast; then kill while all are still sending.
    eventually([&] { return load.ack_count() >= kMaxRegistrations || load.failed_threads() > 0; }, 1500ms);
    REQUIRE(load.failed_threads() == 0);
    server.kill9();
    load.stop();
    CHECK(load.unexpected_answers() == std::vector<std::string>{});
    acks = load.acks();
  }
  MESSAGE(durability << ": " << acks.size() << " registrations acknowledged before kill -9");
  REQUIRE(!acks.empty());

  MusterServer server(data, options);
  const std::uint64_t head = check_log_holds_acknowledged(server, acks);

  // The recovered server knows the instances and continues the log: after the
  // enrollment token this server's first registration makes, a known instance
  // registering again gets a new token (one AgentTokenIssued).
  const Registered again = register_agent(server, acks.front().instance_id);
  CHECK(again.status == 200);
  CHECK(again.agent_id == acks.front().agent_id);
  CHECK(again.position == head + kEnrollmentTokenEvents + 1);  // a known instance spends no use
  const Registered fresh = register_agent(server, "after-crash");
  CHECK(fresh.status == 201);
  CHECK(fresh.position == again.position + kEnrollmentUseEvents + kNewAgentEvents);
}

}  // namespace

TEST_CASE("crash: kill -9 under concurrent registrations with fsync durability loses nothing acknowledged") {
  check_kill9_loses_nothing_acknowledged("fsync");
}

TEST_CASE("crash: kill -9 under concurrent registrations with wal durability loses nothing acknowledged") {
  check_kill9_loses_nothing_acknowledged("wal");
}

}  // namespace muster::e2e
