// `muster backup` and `muster restore`: the backup document from the shell.
// The first reads a data directory without a server (as replay does); the
// second is a client of a running server's restore route.

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/config/restore.hpp"
#include "app/commands.hpp"
#include "app/progress.hpp"
#include "common/log.hpp"
#include "common/timers.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "http/backup_document.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"
#include "projections/projection_runner.hpp"

namespace muster::app {
namespace {

/// How long a restore may take before the client gives up waiting for its
/// answer (the server bounds each change it makes; a large document makes many).
constexpr time_t kRestoreAnswerSeconds = 600;

int fail(const char* command, const std::string& message) {
  std::fprintf(stderr, "muster %s: %s\n", command, message.c_str());
  return 1;
}

Result<std::string> read_stdin() {
  std::string text;
  char buffer[1 << 16];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, stdin)) > 0;) text.append(buffer, got);
  if (std::ferror(stdin)) return make_error(ErrorCode::io_error, "cannot read standard input");
  return text;
}

}  // namespace

int run_backup(const BackupOptions& options) {
  // The log lines of folding (progress, the snapshots a read-only store
  // cannot save) are not for this command's user: errors only.
  log::set_level(log::Level::error);
  RocksDbOptions store_options;
  store_options.path = options.data_dir;
  store_options.read_only = true;
  auto opened = open_rocksdb_storage(store_options);
  if (!opened) return fail("backup", fmt::format("cannot open {}: {}", options.data_dir, opened.error().message));
  Storage& storage = **opened;
  RealTimerService timers;
  AgentRegistry registry;
  ConfigModel configs;
  ProjectionRunnerOptions runner_options;
  runner_options.follow = false;
  Result<std::string> document = make_error(ErrorCode::internal, "not read");
  {
    ProjectionRunner runner(storage.events(), storage.snapshots(), {&registry, &configs}, timers, runner_options);
    // Folding a long log (past the read models' snapshots) is the slow part.
    const auto head = storage.events().head_position();
    if (!head) return fail("backup", fmt::format("cannot read {}: {}", options.data_dir, head.error().message));
    Progress progress("backup", *head, "events of the log folded", options.progress);
    runner.observe([&progress](const std::vector<Event>& batch) { progress.update(batch.back().position); });
    if (Status started = runner.start(); !started) {
      return fail("backup", fmt::format("cannot read {}: {}", options.data_dir, started.error().message));
    }
    runner.catch_up();
    progress.finish(runner.position());
    const Backup backup = take_backup(configs, registry, options.org, timers.now_ms(), runner.position());
    document = http::backup_to_json(backup).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    runner.stop();
  }
  storage.stop();
  std::fwrite(document->data(), 1, document->size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int run_restore(const RestoreCommandOptions& options) {
  auto document = read_stdin();
  if (!document) return fail("restore", document.error().message);
  if (document->find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail("restore", "no document on standard input (muster restore ... < backup.json)");
  }
  httplib::Client client(options.url);
  if (!options.ca_cert_path.empty()) client.set_ca_cert_path(options.ca_cert_path.c_str());
  client.set_connection_timeout(10, 0);
  client.set_write_timeout(kRestoreAnswerSeconds, 0);
  client.set_read_timeout(kRestoreAnswerSeconds, 0);
  std::string path = "/api/v1/restore?dry_run=";
  path += options.dry_run ? "true" : "false";
  if (options.org) path += "&org=" + *options.org;
  const httplib::Headers headers{{"Authorization", "Bearer " + options.key}};
  // The server answers once it applied every change: say what is being waited for.
  Progress("restore", document->size(), "bytes", options.progress)
      .note(fmt::format("sending {} bytes to {}; it answers once it has applied every change", document->size(),
                        options.url));
  const auto answer = client.Post(path, headers, *document, "application/json");
  if (!answer) {
    return fail("restore", fmt::format("cannot reach {}: {}", options.url, httplib::to_string(answer.error())));
  }
  const auto body = nlohmann::json::parse(answer->body, nullptr, false);
  const std::string printed =
      body.is_discarded() ? answer->body : body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(answer->status == 200 ? stdout : stderr, "%s\n", printed.c_str());
  if (answer->status == 413) {
    std::fprintf(stderr,
                 "muster restore: the document (%zu bytes) is larger than the server takes: start it with a "
                 "larger --max-body-bytes\n",
                 document->size());
  }
  if (answer->status != 200) return fail("restore", fmt::format("the server answered {}", answer->status));
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace muster::app
