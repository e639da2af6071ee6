#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/agent/agent_events.hpp"
#include "actors/agent/agent_state.hpp"
#include "actors/runtime/stream_id.hpp"
#include "app/commands.hpp"
#include "app/progress.hpp"
#include "app/terminal_text.hpp"
#include "common/time_format.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "http/json_views.hpp"
#include "projections/config_model.hpp"
#include "projections/event_queries.hpp"

namespace muster::app {
namespace {

constexpr std::size_t kReadBatch = 8192;

int fail(const std::string& message) {
  std::fprintf(stderr, "muster replay: %s\n", message.c_str());
  return 1;
}

// Calls `visit` for each event of `stream`, in order, until it returns false.
template <class Visit>
Status for_each_in_stream(const EventStore& store, const std::string& stream, Visit&& visit) {
  for (std::uint64_t next = 1;;) {
    auto batch = store.read_stream(stream, next, kReadBatch);
    if (!batch) return batch.error();
    if (batch->empty()) return Status::success();
    for (const Event& event : *batch) {
      if (!visit(view_of(event))) return Status::success();
    }
    next = batch->back().version + 1;
  }
}

// Calls `visit` for each event of the log, in place (no copy per event), until it returns false.
template <class Visit>
Status for_each_in_log(const EventStore& store, Visit&& visit) {
  bool stopped = false;
  for (std::uint64_t next = 1; !stopped;) {
    std::size_t seen = 0;
    auto reached = store.scan_log(next, kReadBatch, [&](const EventView& event) {
      ++seen;
      stopped = !visit(event);
      return !stopped;
    });
    if (!reached) return reached.error();
    if (seen == 0) break;
    next = *reached;
  }
  return Status::success();
}

// Events of the log copied flat into one buffer: a chunk passes from the
// reading thread to the printing one without an allocation per event.
class EventChunk {
 public:
  void add(const EventView& event) {
    const auto offset = [this](std::string_view text) {
      const std::size_t at = bytes_.size();
      bytes_.append(text);
      return std::make_pair(at, text.size());
    };
    entries_.push_back({event.position, event.version, event.time_ms, event.schema_version, offset(event.stream),
                        offset(event.type), offset(event.data), offset(event.meta)});
  }

  /// Calls `visit` with a view of each event, in order.
  template <class Visit>
  void for_each(Visit&& visit) const {
    const auto text = [this](std::pair<std::size_t, std::size_t> span) {
      return std::string_view(bytes_).substr(span.first, span.second);
    };
    for (const Entry& entry : entries_) {
      visit(EventView{entry.position, text(entry.stream), entry.version, text(entry.type), entry.time_ms,
                      entry.schema_version, text(entry.data), text(entry.meta)});
    }
  }

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint64_t position;
    std::uint64_t version;
    TimeMs time_ms;
    std::uint32_t schema_version;
    std::pair<std::size_t, std::size_t> stream, type, data, meta;
  };
  std::string bytes_;
  std::vector<Entry> entries_;
};

// Prints the whole log through `print` with two threads: one reads and
// decodes the log, this one formats and writes (each alone takes about
// half the time of a replay).
template <class Print>
Status print_log_in_two_threads(const EventStore& store, Print&& print) {
  constexpr std::size_t kChunksInFlight = 4;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<EventChunk> ready;
  bool finished = false;
  Status read = Status::success();
  std::thread reader([&] {
    EventChunk chunk;
    const auto hand_over = [&] {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return ready.size() < kChunksInFlight; });
      ready.push_back(std::move(chunk));
      chunk = EventChunk();
      changed.notify_all();
      return true;
    };
    Status scanned = for_each_in_log(store, [&](const EventView& event) {
      chunk.add(event);
      return chunk.size() < kReadBatch || hand_over();
    });
    if (chunk.size() > 0) hand_over();
    std::lock_guard<std::mutex> lock(mutex);
    read = std::move(scanned);
    finished = true;
    changed.notify_all();
  });
  for (;;) {
    EventChunk chunk;
    {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return !ready.empty() || finished; });
      if (ready.empty()) break;
      chunk = std::move(ready.front());
      ready.pop_front();
      changed.notify_all();
    }
    chunk.for_each(print);
  }
  reader.join();
  return read;
}

// An agent registered under an instance id, as its AgentRegistered says.
struct InstanceMatch {
  std::string stream;
  std::string agent_id;
  std::string org;
};

// The string member `key` of `data`, or "" (json::value throws on another type).
std::string string_member(const nlohmann::json& data, const char* key) {
  const auto found = data.find(key);
  return found != data.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// Every agent registered under `instance_id` (one per organization), in log
// order, found by scanning the log.
Result<std::vector<InstanceMatch>> find_instance(const EventStore& store, const std::string& instance_id) {
  std::vector<InstanceMatch> matches;
  Status scanned = for_each_in_log(store, [&](const EventView& event) {
    if (event.type != AgentRegistered::kType.name) return true;
    const auto data = nlohmann::json::parse(event.data, nullptr, false);
    if (!data.is_object() || string_member(data, "instance_id") != instance_id) return true;
    const bool known = std::any_of(matches.begin(), matches.end(),
                                   [&](const InstanceMatch& match) { return match.stream == event.stream; });
    if (!known) {
      // Schema v1 has no org: the default organization's (as its upcast reads it).
      std::string org = string_member(data, "org");
      matches.push_back({std::string(event.stream), string_member(data, "agent_id"),
                         org.empty() ? std::string(kDefaultOrg) : std::move(org)});
    }
    return true;
  });
  if (!scanned) return scanned.error();
  return matches;
}

// The one stream `--instance` (and `--org`) select, or why there is none:
// an instance id two organizations share needs `--org`, rather than showing
// one of them as if it were the only one.
Result<std::string> select_instance(const std::vector<InstanceMatch>& found, const ReplayOptions& options) {
  const std::string& instance_id = *options.instance_id;
  std::vector<InstanceMatch> matches;
  for (const InstanceMatch& match : found) {
    if (!options.org || match.org == *options.org) matches.push_back(match);
  }
  if (matches.empty()) {
    return make_error(ErrorCode::not_found,
                      options.org ? fmt::format("no agent registered with instance id '{}' in organization '{}'",
                                                instance_id, *options.org)
                                  : fmt::format("no agent registered with instance id '{}'", instance_id));
  }
  if (matches.size() == 1) return matches.front().stream;
  std::string listed;
  for (const InstanceMatch& match : matches) {
    listed += fmt::format("{}{} (agent {})", listed.empty() ? "" : ", ", terminal_safe_text(match.org),
                          terminal_safe_text(match.agent_id));
  }
  return make_error(ErrorCode::invalid_argument,
                    fmt::format("instance id '{}' is registered by {} agents: {}; choose one with {}", instance_id,
                                matches.size(), listed, options.org ? "--agent" : "--org ORG or --agent ID"));
}

// The stream of agent `agent_id`: "agent:<id>", or the bare id in data dirs from before stream kinds.
Result<std::optional<std::string>> find_agent_stream(const EventStore& store, const std::string& agent_id) {
  for (const std::string& stream : {stream_name(kAgentKind, agent_id), agent_id}) {
    const auto version = store.stream_version(stream);
    if (!version) return version.error();
    if (*version > 0) return std::optional<std::string>(stream);
  }
  return std::optional<std::string>();
}

bool selected(const EventView& event, const ReplayOptions& options) {
  if (options.type && event.type != *options.type) return false;
  if (options.report_type && !is_report_of_type(event, *options.report_type)) return false;
  if (options.since_ms && event.time_ms < *options.since_ms) return false;
  return !options.until_ms || event.time_ms <= *options.until_ms;
}

constexpr const char* kTableRow = "{:>10}  {:<24}  {:<42}  {:>7}  {:<22}  {:<42}  {:<15}  {}";

void print_table_header() {
  const std::string header =
      fmt::format(kTableRow, "POSITION", "TIME", "STREAM", "VERSION", "TYPE", "BY", "FROM", "DATA") + "\n";
  std::fputs(header.c_str(), stdout);
}

// Who caused an event and from where, as its meta records them ("-" if not).
std::pair<std::string, std::string> cause_of(const EventView& event) {
  const auto meta = nlohmann::json::parse(event.meta, nullptr, false);
  const auto text = [&](const char* key) {
    const auto found = meta.is_object() ? meta.find(key) : meta.end();
    return found != meta.end() && found->is_string() ? found->get<std::string>() : std::string("-");
  };
  const std::string principal = text("principal");
  return {principal == "-" ? text("cause") : principal, text("source")};
}

// Formats events into a buffer written out in large blocks (the whole log
// goes through here); `flush` writes what is left.
class EventPrinter {
 public:
  explicit EventPrinter(ReplayFormat format) : format_(format) {}

  void print(const EventView& event) {
    if (format_ == ReplayFormat::jsonl) {
      http::append_event_jsonl(buffer_, event);
    } else {
      const auto [principal, source] = cause_of(event);
      // Everything in a row may come from an agent: escape what a terminal would act on.
      buffer_ += fmt::format(kTableRow, event.position, format_rfc3339(event.time_ms),
                             terminal_safe_text(event.stream), event.version, terminal_safe_text(event.type),
                             terminal_safe_text(principal), terminal_safe_text(source),
                             terminal_safe_json(event.data));
      buffer_ += '\n';
    }
    if (buffer_.size() >= kFlushBytes) flush();
  }

  void flush() {
    std::fwrite(buffer_.data(), 1, buffer_.size(), stdout);
    buffer_.clear();
  }

 private:
  static constexpr std::size_t kFlushBytes = 1 << 20;
  const ReplayFormat format_;
  std::string buffer_;
};

// The agent's configuration at `at_ms`: the config model folded over the
// log up to then (desired configurations come from groups and configs, not
// from the agent's stream alone).
Result<nlohmann::json> config_at(const EventStore& store, const AgentId& agent_id, TimeMs at_ms) {
  constexpr std::size_t kBatch = 4096;
  ConfigModel model;
  for (std::uint64_t from = 1;;) {
    auto batch = store.read_log(from, kBatch);
    if (!batch) return batch.error();
    const auto past = std::find_if(batch->begin(), batch->end(), [&](const Event& event) { return event.time_ms > at_ms; });
    const bool done = past != batch->end() || batch->size() < kBatch;
    batch->erase(past, batch->end());
    if (!batch->empty()) {
      // A damaged event is skipped and logged by the model, as the server does.
      (void)model.apply(*batch);
      from = batch->back().position + 1;
    }
    if (done) break;
  }
  const auto view = model.agent(agent_id);
  if (!view) return nlohmann::json(nullptr);
  return nlohmann::json{{"config_version", view->config_version},
                        {"config_hash", view->desired ? view->desired->hash : std::string()},
                        {"config_status", to_string(view->status)},
                        {"groups", view->groups}};
}

int print_state_at(const EventStore& store, const std::string& stream, TimeMs at_ms) {
  AgentState state;
  Status folded = Status::success();
  Status read = for_each_in_stream(store, stream, [&](const EventView& event) {
    if (event.time_ms > at_ms) return false;
    folded = apply(state, event.to_event());
    return folded.ok();
  });
  if (!read) return fail(read.error().message);
  if (!folded) return fail(folded.error().message);
  if (state.version == 0) {
    return fail(fmt::format("agent {} had no events at or before {}", state.agent_id.to_string(),
                            format_rfc3339(at_ms)));
  }
  nlohmann::json out = to_json(state);
  out["as_of"] = format_rfc3339(at_ms);
  auto config = config_at(store, state.agent_id, at_ms);
  if (!config) return fail(config.error().message);
  out["config"] = std::move(*config);
  // The dump escapes C0 controls inside strings, so its newlines are its own
  // indentation: keep them, escape the rest of each line.
  const std::string text = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string printed;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    printed += terminal_safe_json(std::string_view(text).substr(start, end - start));
    printed += '\n';
    start = end + 1;
  }
  std::fputs(printed.c_str(), stdout);
  return 0;
}

}  // namespace

int run_replay(const ReplayOptions& options) {
  RocksDbOptions store_options;
  store_options.path = options.data_dir;
  store_options.read_only = true;
  auto opened = open_rocksdb_storage(store_options);
  if (!opened) return fail(fmt::format("cannot open {}: {}", options.data_dir, opened.error().message));
  const EventStore& store = (*opened)->events();

  std::optional<std::string> stream;
  if (options.instance_id) {
    auto found = find_instance(store, *options.instance_id);
    if (!found) return fail(found.error().message);
    auto chosen = select_instance(*found, options);
    if (!chosen) return fail(chosen.error().message);
    stream = std::move(*chosen);
  } else if (options.agent_id) {
    auto found = find_agent_stream(store, *options.agent_id);
    if (!found) return fail(found.error().message);
    if (!*found) return fail(fmt::format("no agent with id {}", *options.agent_id));
    stream = *found;
  }
  if (options.at_ms) return print_state_at(store, *stream, *options.at_ms);

  if (options.format == ReplayFormat::table) print_table_header();
  EventPrinter printer(options.format);
  if (stream) {
    Status read = for_each_in_stream(store, *stream, [&](const EventView& event) {
      if (selected(event, options)) printer.print(event);
      return true;
    });
    printer.flush();
    if (!read) return fail(read.error().message);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  // The whole log may take minutes: say how far the scan got.
  const auto head = store.head_position();
  if (!head) return fail(head.error().message);
  Progress progress("replay", *head, "events", options.progress);
  std::uint64_t reached = 0;
  Status read = print_log_in_two_threads(store, [&](const EventView& event) {
    if (selected(event, options)) printer.print(event);
    reached = event.position;
    progress.update(reached);
    return true;
  });
  printer.flush();
  progress.finish(reached);
  if (!read) return fail(read.error().message);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace muster::app
