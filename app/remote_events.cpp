// `muster events tail`: the event log's latest events (GET /api/v1/events),
// or with --follow the log live (GET /api/v1/events/stream, Server-Sent
// Events) until the server ends the stream or the command is stopped.
// Each event is one line: `position  time  type  stream`, or with
// `--output json` the API's JSON of the event, one object per line.

#include <cstdio>

#include <fmt/format.h>

#include "app/remote_command.hpp"
#include "app/terminal_text.hpp"

namespace muster::app {
namespace {

using nlohmann::json;

/// Events shown without --follow or --from-position.
constexpr std::uint64_t kDefaultTail = 20;
/// The most /api/v1/events gives in one page.
constexpr std::uint64_t kPageLimit = 1000;

void print_event(const RemoteInvocation& invocation, const json& event) {
  if (invocation.output == OutputFormat::json) {
    print_json_line(event);
  } else {
    std::printf("%s  %s  %s  %s\n", cell_text(event.value("position", json())).c_str(),
                cell_text(event.value("time", json())).c_str(),
                cell_text(event.value("type", json())).c_str(),
                cell_text(event.value("stream", json())).c_str());
  }
}

// Parses Server-Sent Events as pieces of the body arrive: each complete
// event (ended by a blank line) goes to `on_event` with its type and data;
// comments (": keep-alive") are dropped.
class SseParser {
 public:
  explicit SseParser(std::function<bool(const std::string& type, const std::string& data)> on_event)
      : on_event_(std::move(on_event)) {}

  /// False once `on_event` said to stop.
  bool feed(std::string_view piece) {
    pending_.append(piece);
    for (std::size_t end; (end = pending_.find('\n')) != std::string::npos;) {
      std::string line = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) {
        const bool go_on = data_.empty() || on_event_(type_.empty() ? "message" : type_, data_);
        type_.clear();
        data_.clear();
        if (!go_on) return false;
      } else if (line.rfind("event:", 0) == 0) {
        type_ = field_value(line, 6);
      } else if (line.rfind("data:", 0) == 0) {
        if (!data_.empty()) data_ += '\n';
        data_ += field_value(line, 5);
      }
    }
    return true;
  }

 private:
  static std::string field_value(const std::string& line, std::size_t after_colon) {
    return line.substr(after_colon + (line.size() > after_colon && line[after_colon] == ' ' ? 1 : 0));
  }

  std::function<bool(const std::string&, const std::string&)> on_event_;
  std::string pending_;
  std::string type_;
  std::string data_;
};

int follow(ApiClient& client, const RemoteInvocation& invocation) {
  const std::string target = Query()
                                 .add("from_position", invocation.value("--from-position"))
                                 .add("type", invocation.value("--type"))
                                 .add("stream", invocation.value("--stream"))
                                 .on("/api/v1/events/stream");
  int exit_code = kExitOk;
  SseParser parser([&](const std::string& type, const std::string& data) {
    const json event = json::parse(data, nullptr, false);
    if (type == "error") {
      // The server's last word (SHUTTING_DOWN, STREAM_STALLED): its error, as any other.
      ApiAnswer ended;
      ended.status = 503;
      ended.body = event;
      ended.text = data;
      exit_code = report_failure(invocation, ended);
      return false;
    }
    if (!event.is_object()) return true;
    print_event(invocation, event);
    // Each event is shown as it comes, also when stdout is a pipe or a file.
    if (std::fflush(stdout) != 0) {
      exit_code = kExitUnavailable;
      return false;
    }
    return true;
  });
  const ApiAnswer answer = client.stream(target, [&](std::string_view piece) { return parser.feed(piece); });
  if (!answer.ok()) return report_failure(invocation, answer);
  if (exit_code == kExitOk) {
    std::fprintf(stderr, "muster %s: the server ended the stream\n", invocation.command.c_str());
    return kExitUnavailable;
  }
  return exit_code;
}

// Where the last `count` positions of the log start (the log's head from /api/v1/stats).
std::optional<std::uint64_t> tail_start(ApiClient& client, const RemoteInvocation& invocation,
                                        std::uint64_t count, int& exit_code) {
  const ApiAnswer stats = client.get("/api/v1/stats");
  if (!stats.ok()) {
    exit_code = report_failure(invocation, stats);
    return std::nullopt;
  }
  const std::uint64_t head = stats.body.value("log_position", std::uint64_t{0});
  return head >= count ? head - count + 1 : 1;
}

int print_page(ApiClient& client, const RemoteInvocation& invocation) {
  std::uint64_t limit = kDefaultTail;
  if (const auto given = invocation.value("--limit")) {
    const json parsed = number_or_text(*given);
    if (!parsed.is_number_unsigned() || parsed.get<std::uint64_t>() == 0) {
      std::fprintf(stderr, "muster %s: --limit must be a whole number above 0\n", invocation.command.c_str());
      return kExitUsage;
    }
    limit = parsed.get<std::uint64_t>();
  }
  std::optional<std::string> from = invocation.value("--from-position");
  if (!from) {
    int exit_code = kExitOk;
    const auto start = tail_start(client, invocation, limit, exit_code);
    if (!start) return exit_code;
    from = std::to_string(*start);
  }
  // Page by page until `limit` events are shown or the log ends.
  for (std::uint64_t shown = 0; shown < limit;) {
    const ApiAnswer page = client.get(Query()
                                          .add("from_position", from)
                                          .add("limit", std::to_string(std::min(limit - shown, kPageLimit)))
                                          .add("type", invocation.value("--type"))
                                          .on("/api/v1/events"));
    if (!page.ok()) return report_failure(invocation, page);
    for (const json& event : page.body.value("events", json::array())) {
      print_event(invocation, event);
      ++shown;
    }
    const json next = page.body.value("next_from_position", json());
    if (!next.is_number_unsigned()) break;
    from = std::to_string(next.get<std::uint64_t>());
  }
  return finish_output();
}

}  // namespace

std::vector<RemoteCommand> event_commands() {
  return {{"events",
           "tail",
           "[--from-position N] [--type TYPE] [--limit N] | --follow [--from-position N] "
           "[--type TYPE] [--stream STREAM]",
           "the log's latest events (the last 20, or --limit from --from-position), or with --follow "
           "each new one as it happens",
           {{}, {"--from-position", "--type", "--stream", "--limit"}, {}, {"--follow"}},
           [](ApiClient& client, const RemoteInvocation& invocation) {
             const bool following = invocation.switches.count("--follow") > 0;
             if (following && invocation.value("--limit")) {
               std::fprintf(stderr, "muster %s: --limit is for a page, not with --follow\n",
                            invocation.command.c_str());
               return static_cast<int>(kExitUsage);
             }
             if (!following && invocation.value("--stream")) {
               std::fprintf(stderr, "muster %s: --stream needs --follow\n", invocation.command.c_str());
               return static_cast<int>(kExitUsage);
             }
             return following ? follow(client, invocation) : print_page(client, invocation);
           }}};
}

}  // namespace muster::app
