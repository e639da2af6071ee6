#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>

#include <fmt/format.h>

#include "actors/access.hpp"
#include "actors/crash_injector.hpp"
#include "app/commands.hpp"
#include "common/log.hpp"
#include "projections/projection_runner.hpp"

namespace muster::app {
namespace {

// Every open connection holds a descriptor: allow as many as the hard limit
// does (Debian's soft default, 1024, is below what --http-threads serves).
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
    log::warn("cannot raise the open-file limit", {{"errno", errno}});
}

// Blocks SIGTERM and SIGINT in this thread and every thread it starts, so
// that `wait_for_stop_signal` alone receives them.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int wait_for_stop_signal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

// Writes `text` to `path`, readable by the owner only.
Status write_secret_file(const std::string& path, const std::string& text) {
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file < 0) return make_error(ErrorCode::io_error, fmt::format("cannot create {}", path));
  const bool written = ::fchmod(file, 0600) == 0 &&
                       ::write(file, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(file) == 0;
  ::close(file);
  if (!written) return make_error(ErrorCode::io_error, fmt::format("cannot write {}", path));
  return Status::success();
}

// A new data directory gets one admin key, written to <data>/admin.key, so
// the operator API is usable without the key ever appearing in a log.
// Returns the log position of the key's event.
Result<std::uint64_t> bootstrap_admin_key(EventStore& store, const std::string& data_dir) {
  auto issued =
      issue_api_key(store, "bootstrap-admin", Role::admin, std::string(kAllOrgs), R"({"cause":"bootstrap"})");
  if (!issued) return issued.error();
  const std::string path = data_dir + "/admin.key";
  if (Status written = write_secret_file(path, issued->plaintext + "\n"); !written) return written.error();
  log::info("created the bootstrap admin API key", {{"file", path}, {"key_id", issued->key.key_id}});
  return issued->position;
}

// What the operator should do about a store that cannot be opened or read.
const char* storage_hint(const Error& error) {
  if (error.code == ErrorCode::corruption) {
    return "the data directory is damaged (the error names the file): restore it from a backup, or move it "
           "aside to start empty; muster will not serve a state it cannot trust";
  }
  return "check the path, its permissions and free space";
}

const char* durability_name(Durability durability) {
  return durability == Durability::fsync ? "fsync" : "wal";
}

}  // namespace

int run_serve(const ServeOptions& options) {
  log::set_level(options.log_level);
  const sigset_t stop_signals = block_stop_signals();
  raise_descriptor_limit();
  SystemClock clock;

  RocksDbOptions store_options = options.store;
  store_options.store.clock = &clock;
  // RocksDB cannot take writes again in this process: stop cleanly (reads
  // and requests in flight finish) and exit 1; a restart recovers the log.
  static std::atomic<bool> storage_failed{false};
  store_options.store.on_unrecoverable_storage = [](const Error& error) {
    log::error(
        "the event store cannot take writes again without a restart; muster stops",
        {{"error", error.message},
         {"hint", "fix the disk (see the error), then start muster again: nothing acknowledged is lost"}});
    storage_failed = true;
    ::kill(::getpid(), SIGTERM);
  };
  if (!options.test_sync_ledger.empty() || !options.test_fail_writes_while.empty() ||
      options.test_sync_delay_ms > 0) {
    auto hooks = TestFileHooks::open(options.test_sync_ledger, options.test_fail_writes_while,
                                     static_cast<TimeMs>(options.test_sync_delay_ms));
    if (!hooks) {
      log::error("cannot install the test file hooks", {{"error", hooks.error().message}});
      return 1;
    }
    store_options.file_hooks = std::move(*hooks);
    log::warn(
        "test file hooks installed: the store's writes are observed or failed on purpose",
        {{"sync_ledger", options.test_sync_ledger}, {"fail_writes_while", options.test_fail_writes_while}});
  }
  auto opened = open_rocksdb_storage(store_options);
  if (!opened) {
    log::error("cannot open the event store", {{"data", options.store.path},
                                               {"error", opened.error().message},
                                               {"hint", storage_hint(opened.error())}});
    return 1;
  }
  Storage& storage = **opened;
  EventStore& store = storage.events();
  const auto head = store.head_position();
  if (!head) {
    log::error("cannot read the log's head", {{"data", options.store.path},
                                              {"error", head.error().message},
                                              {"hint", storage_hint(head.error())}});
    return 1;
  }
  const std::uint64_t head_at_start = *head;
  log::info("event store open", {{"data", options.store.path},
                                 {"durability", durability_name(options.store.durability)},
                                 {"log_position", head_at_start}});

  ProjectionRunner projections(store);
  projections.start();
  CrashInjector crash_injector;
  http::ApiServer api(options.api,
                      {&store, &projections, &clock, options.enable_test_hooks ? &crash_injector : nullptr});
  if (Status started = api.start(); !started) {
    log::error("cannot start the HTTP API", {{"error", started.error().message}});
    return 1;
  }
  log::info("listening", {{"listen", fmt::format("{}:{}", options.api.host, api.port())},
                          {"port", api.port()},
                          {"tls", !options.api.tls_cert_path.empty()}});

  AgentHostOptions host_options = options.host;
  if (options.enable_test_hooks) {
    log::warn("test hooks enabled: POST /_test/agents/{id}/crash fails an agent's actor");
    host_options.TEST_before_command = [&crash_injector](const std::string& agent_id) {
      crash_injector.check(agent_id);
    };
  }
  auto host = AgentHost::start(store, storage.last_seen(), clock, host_options);
  if (!host) {
    log::error("cannot recover agents from the log", {{"data", options.store.path},
                                                      {"error", host.error().message},
                                                      {"hint", storage_hint(host.error())}});
    api.stop();
    return 1;
  }
  const RecoveryStats& recovered = (*host)->recovery_stats();
  log::info("recovered", {{"agents", recovered.agents},
                          {"events", recovered.events},
                          {"duration_ms", recovered.duration_ms},
                          {"fold_ms", recovered.fold_ms},
                          {"spawn_ms", recovered.spawn_ms},
                          {"heartbeat_timeout_ms", options.host.heartbeat_timeout_ms}});
  // Recovery above and the projections' catch-up run side by side; the
  // bootstrap check needs the access model complete.
  if (!projections.wait_for_position(head_at_start, std::chrono::minutes(10))) {
    log::error("the read models did not catch up with the log");
    api.stop();
    (*host)->stop();
    return 1;
  }
  // Ready once the read models include the bootstrap key, so it works at once.
  std::uint64_t ready_at_position = head_at_start;
  if (!projections.access().has_keys()) {
    auto bootstrapped = bootstrap_admin_key(store, options.store.path);
    if (!bootstrapped) {
      log::error("cannot create the bootstrap admin key", {{"error", bootstrapped.error().message}});
      api.stop();
      (*host)->stop();
      return 1;
    }
    ready_at_position = *bootstrapped;
  }
  api.attach_agent_host(host->get(), ready_at_position);

  const int received = wait_for_stop_signal(stop_signals);
  log::info("stopping", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"},
                         {"storage_failed", storage_failed.load()}});
  api.stop();
  (*host)->stop();
  projections.stop();
  storage.stop();
  log::info("stopped");
  return storage_failed ? 1 : 0;
}

}  // namespace muster::app
