// GET /api/v1/events/stream on the real server: Server-Sent Events read by a
// client written here over a plain socket (HTTP/1.1 chunked framing and the
// SSE text format by hand), so that a misreading of either cannot be shared
// with the server's library.

#include <poll.h>

#include <optional>

#include "common/sanitizers.hpp"
#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

/// One SSE event as the client sees it; a comment line (": keep-alive")
/// comes as an event with only `comment` set.
struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
  std::string comment;
};

class SseClient {
 public:
  /// Connects and sends GET `path` with `extra_headers` (each ending in
  /// CRLF); reads the answer's head, and its body unless it is a stream.
  /// `receive_buffer` > 0 shrinks the socket's receive buffer (a reader
  /// that stops reading then stalls the server's writes sooner).
  SseClient(int port, const std::string& path, const std::string& extra_headers, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    send_all(fd_, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n");
    std::size_t end = std::string::npos;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(std::chrono::seconds(15))) break;
    }
    REQUIRE(end != std::string::npos);
    head = raw_.substr(0, end + 4);
    raw_.erase(0, end + 4);
    if (head.rfind("HTTP/1.1 ", 0) == 0) status = std::stoi(head.substr(9, 3));
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    chunked_ = lower.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos;
    if (!chunked_) {
      // An ordinary answer: its Content-Length body.
      const auto length_at = lower.find("\r\ncontent-length:");
      const std::size_t length =
          length_at == std::string::npos ? 0 : std::stoul(lower.substr(length_at + 17));
      while (raw_.size() < length && fill(std::chrono::seconds(15))) {
      }
      body = json::parse(raw_.substr(0, length), nullptr, false);
    }
  }
  ~SseClient() { close(); }
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  /// The header `name` (lower case) of the answer's head, or empty.
  std::string header(const std::string& name) const {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    const auto at = lower.find("\r\n" + name + ":");
    if (at == std::string::npos) return {};
    const auto value_at = at + 3 + name.size();
    return std::string(trim(head.substr(value_at, head.find("\r\n", value_at) - value_at)));
  }

  /// The next event (or comment), waiting at most `timeout` for it; nullopt
  /// when none came in time or the stream ended.
  std::optional<SseEvent> next(std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto event = take_event()) return event;
      if (ended_) return std::nullopt;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !fill(left)) return std::nullopt;
      decode_chunks();
    }
  }

  /// The next event that is not a comment.
  std::optional<SseEvent> next_event(std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    while (auto event = next(timeout)) {
      if (event->comment.empty()) return event;
    }
    return std::nullopt;
  }

  /// True once the body's last chunk came (the stream ended cleanly).
  bool ended() const { return ended_; }
  /// True once the server closed the connection.
  bool closed_by_server() const { return eof_; }

  /// Reads until the server closes the connection (at most `timeout`).
  void read_to_close(std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_ && std::chrono::steady_clock::now() < deadline) {
      fill(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      decode_chunks();
    }
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string head;
  int status = 0;
  json body;  ///< An ordinary (not streamed) answer's body.

 private:
  static std::string_view trim(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
    return text;
  }

  bool fill(std::chrono::milliseconds timeout) {
    if (fd_ < 0 || eof_) return false;
    pollfd poll_fd{fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 1))) <= 0) return false;
    char buffer[16384];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) {
      eof_ = true;
      return false;
    }
    raw_.append(buffer, static_cast<std::size_t>(got));
    return true;
  }

  // Moves whole chunks from `raw_` to `text_` (RFC 9112 7.1).
  void decode_chunks() {
    while (chunked_ && !ended_) {
      const auto line_end = raw_.find("\r\n");
      if (line_end == std::string::npos) return;
      const std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
      if (raw_.size() < line_end + 2 + size + 2) return;
      REQUIRE(raw_.compare(line_end + 2 + size, 2, "\r\n") == 0);
      text_.append(raw_, line_end + 2, size);
      raw_.erase(0, line_end + 2 + size + 2);
      if (size == 0) ended_ = true;
    }
  }

  // One event out of `text_` (its lines up to an empty line), if whole.
  std::optional<SseEvent> take_event() {
    const auto end = text_.find("\n\n");
    if (end == std::string::npos) return std::nullopt;
    SseEvent event;
    std::istringstream lines(text_.substr(0, end + 1));
    text_.erase(0, end + 2);
    for (std::string line; std::getline(lines, line);) {
      const auto colon = line.find(':');
      const std::string field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (field.empty()) {
        event.comment = value;
      } else if (field == "id") {
        event.id = value;
      } else if (field == "event") {
        event.event = value;
      } else if (field == "data") {
        event.data += (event.data.empty() ? "" : "\n") + value;
      }
    }
    return event;
  }

  int fd_ = -1;
  std::string raw_;   ///< Bytes received and not yet decoded.
  std::string text_;  ///< The body decoded and not yet taken as events.
  bool chunked_ = false;
  bool ended_ = false;
  bool eof_ = false;
};

std::string bearer_line(const std::string& key) {
  return "Authorization: Bearer " + key + "\r\n";
}

/// `count` agents registered through the server's own calls (so that they
/// remember each agent's token for its reports).
std::vector<std::string> register_agents(const MusterServer& server, const std::string& prefix, int count) {
  std::vector<std::string> ids;
  for (int index = 0; index < count; ++index)
    ids.push_back(register_agent(server, fmt::format("{}-{}", prefix, index)).agent_id);
  return ids;
}

/// A new API key of `role` for `org`; its secret.
std::string create_org_key(const MusterServer& server, const std::string& role,
                           const std::string& org = "default") {
  const HttpAnswer answer =
      server.post("/api/v1/api-keys", json{{"name", role + "-" + org}, {"role", role}, {"org", org}}.dump());
  REQUIRE(answer.status == 201);
  return answer.json.at("key").get<std::string>();
}

/// Reads events until one has id `position` or later; REQUIREs they come.
std::vector<SseEvent> read_through(SseClient& client, std::uint64_t position) {
  std::vector<SseEvent> events;
  while (events.empty() || std::stoull(events.back().id) < position) {
    auto event = client.next_event();
    REQUIRE_MESSAGE(event.has_value(), "the stream stopped before position " << position);
    events.push_back(*event);
  }
  return events;
}

std::vector<std::uint64_t> ids_of_events(const std::vector<SseEvent>& events) {
  std::vector<std::uint64_t> ids;
  for (const SseEvent& event : events) ids.push_back(std::stoull(event.id));
  return ids;
}

/// Every position from `first` to `last`, in order.
std::vector<std::uint64_t> positions(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> all;
  for (std::uint64_t position = first; position <= last; ++position) all.push_back(position);
  return all;
}

/// Waits at most `timeout` for the next comment line on `client`, skipping events.
bool next_keep_alive(SseClient& client, std::chrono::milliseconds timeout) {
  while (auto event = client.next(timeout)) {
    if (event->comment == "keep-alive") return true;
  }
  return false;
}

/// Moves the server's clock until `reader` gets its next keep-alive; returns
/// how far. 16 s brings it, unless the previous round of keep-alives ended
/// after the test moved the clock past its deadline (the next is due 15 s
/// after a round ends): then 5 s more at a time.
TimeMs advance_to_keep_alive(const MusterServer& server, SseClient& reader) {
  TimeMs moved = 16'000;
  advance_clock(server, moved);
  while (!next_keep_alive(reader, std::chrono::seconds(3))) {
    REQUIRE(moved < 40'000);
    advance_clock(server, 5'000);
    moved += 5'000;
  }
  return moved;
}

/// `count` crash reports of about `data_bytes` each from `agent_ids`, from four client threads.
void report_many(const MusterServer& server, const std::vector<std::string>& agent_ids, std::size_t count,
                 std::size_t data_bytes) {
  const std::string body = json{{"type", "crash"}, {"data", {{"dump", std::string(data_bytes, 'x')}}}}.dump();
  std::atomic<std::size_t> failures{0};
  std::mutex mutex;
  std::string refusal;  ///< The last one, to show.
  std::vector<std::thread> workers;
  for (std::size_t worker = 0; worker < 4; ++worker) {
    workers.emplace_back([&, worker] {
      for (std::size_t index = worker; index < count; index += 4) {
        const std::string& agent_id = agent_ids[index % agent_ids.size()];
        const HttpAnswer answer =
            server.send("POST", "/api/v1/agents/" + agent_id + "/reports", body,
                        {{"Authorization", "Bearer " + MusterServer::agent_token_of(agent_id)},
                         {"Content-Type", "application/json"}});
        if (answer.status != 201) {
          ++failures;
          std::lock_guard lock(mutex);
          refusal = fmt::format("{} {}", answer.status, answer.body);
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  INFO("a refused report: " << refusal);
  REQUIRE(failures == 0);
}

}  // namespace

TEST_CASE("event stream: a viewer sees new events live, each with the JSON /api/v1/events gives") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string viewer = create_org_key(server, "viewer");
  SseClient stream(server.port(), "/api/v1/events/stream", bearer_line(viewer));
  REQUIRE(stream.status == 200);
  CHECK(stream.header("content-type") == "text/event-stream");
  CHECK(stream.header("cache-control") == "no-cache");
  const std::uint64_t before = log_position(server);

  const Registered first = register_agent(server, "live-1");
  const Registered second = register_agent(server, "live-2");
  // What /api/v1/events shows the same key from there (a viewer sees no
  // enrollment-token records): the stream gives the same, in order.
  const HttpAnswer listed =
      server.send("GET", fmt::format("/api/v1/events?from_position={}&limit=1000", before + 1), "",
                  {{"Authorization", "Bearer " + viewer}});
  REQUIRE(listed.status == 200);
  const json& page = listed.json.at("events");
  REQUIRE(!page.empty());
  CHECK(page.back().at("position") == second.position);
  const std::vector<SseEvent> events = read_through(stream, second.position);
  REQUIRE(events.size() == page.size());
  for (std::size_t index = 0; index < events.size(); ++index) {
    CHECK(json::parse(events[index].data) == page[index]);
    CHECK(events[index].id == std::to_string(page[index].at("position").get<std::uint64_t>()));
    CHECK(events[index].event == page[index].at("type").get<std::string>());
  }
  CHECK(first.position < second.position);
}

TEST_CASE("event stream: Last-Event-ID resumes after a disconnect with nothing missed or repeated") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  RegistrationLoad load(server, 2);
  std::vector<std::uint64_t> ids;
  {
    SseClient first(server.port(), "/api/v1/events/stream?from_position=1", bearer_line(server.admin_key()));
    REQUIRE(first.status == 200);
    for (int index = 0; index < 25; ++index) {
      auto event = first.next_event();
      REQUIRE(event.has_value());
      ids.push_back(std::stoull(event->id));
    }
  }  // disconnected while registrations go on
  REQUIRE(eventually([&] { return load.ack_count() > 40; }, std::chrono::seconds(30)));
  // The URL it first opened, and the last id it got: the id wins.
  SseClient second(server.port(), "/api/v1/events/stream?from_position=1",
                   bearer_line(server.admin_key()) + fmt::format("Last-Event-ID: {}\r\n", ids.back()));
  REQUIRE(second.status == 200);
  load.stop();
  REQUIRE(load.failed_threads() == 0);
  const std::uint64_t head = log_position(server);
  for (std::uint64_t id : ids_of_events(read_through(second, head))) ids.push_back(id);
  CHECK(ids == positions(1, head));
}

TEST_CASE("event stream: type and stream filters keep what /api/v1/events keeps") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  SseClient by_type(server.port(), "/api/v1/events/stream?from_position=1&type=AgentRegistered",
                    bearer_line(server.admin_key()));
  const Registered one = register_agent(server, "filter-1");
  const Registered two = register_agent(server, "filter-2");
  heartbeat(server, one.agent_id, {{"status", "degraded"}});
  SseClient by_stream(
      server.port(), "/api/v1/events/stream?from_position=0&stream=" + url_encode(agent_stream(one.agent_id)),
      bearer_line(server.admin_key()));
  REQUIRE(by_type.status == 200);
  REQUIRE(by_stream.status == 200);

  const std::vector<SseEvent> registered = read_through(by_type, two.position - 1);
  const std::vector<json> listed = log_events(server, "type=AgentRegistered");
  REQUIRE(registered.size() == listed.size());
  for (std::size_t index = 0; index < listed.size(); ++index) {
    CHECK(registered[index].event == "AgentRegistered");
    CHECK(json::parse(registered[index].data) == listed[index]);
  }
  const std::vector<json> own = stream_events(server, one.agent_id);
  const std::vector<SseEvent> streamed =
      read_through(by_stream, own.back().at("position").get<std::uint64_t>());
  REQUIRE(streamed.size() == own.size());
  for (std::size_t index = 0; index < own.size(); ++index)
    CHECK(json::parse(streamed[index].data) == own[index]);
  // The other agent's registration came after: the stream filter kept it out.
  CHECK(!by_stream.next_event(std::chrono::milliseconds(300)).has_value());
}

TEST_CASE("event stream: a key of one organization sees only its organization's events") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string scoped = create_org_key(server, "viewer", "acme");
  SseClient stream(server.port(), "/api/v1/events/stream?from_position=1", bearer_line(scoped));
  REQUIRE(stream.status == 200);
  const HttpAnswer token =
      server.post("/api/v1/enrollment-tokens", json{{"name", "acme"}, {"org", "acme"}}.dump());
  REQUIRE(token.status == 201);
  const HttpAnswer acme =
      server.send("POST", "/api/v1/agents/register", registration_body("acme-1").dump(),
                  {{"Authorization", "Bearer " + token.json.at("token").get<std::string>()},
                   {"Content-Type", "application/json"}});
  REQUIRE(acme.status == 201);
  register_agent(server, "default-1");
  const Registered last = register_agent(server, "default-2");
  const std::string acme_id = acme.json.at("agent_id").get<std::string>();
  heartbeat(server, acme_id, {{"status", "degraded"}});
  const std::uint64_t acme_last = stream_events(server, acme_id).back().at("position").get<std::uint64_t>();

  const std::vector<SseEvent> seen = read_through(stream, acme_last);
  for (const SseEvent& event : seen) CHECK(agent_of_stream(json::parse(event.data).at("stream")) == acme_id);
  // Exactly what /api/v1/events shows the same key.
  const HttpAnswer listed = server.send("GET", "/api/v1/events?from_position=1&limit=1000", "",
                                        {{"Authorization", "Bearer " + scoped}});
  REQUIRE(listed.status == 200);
  REQUIRE(listed.json.at("events").size() == seen.size());
  for (std::size_t index = 0; index < seen.size(); ++index) {
    CHECK(json::parse(seen[index].data) == listed.json.at("events")[index]);
  }
  CHECK(last.position < acme_last);
  CHECK(!stream.next_event(std::chrono::milliseconds(300)).has_value());
}

TEST_CASE("event stream: bad from_position or Last-Event-ID answer 400 JSON, and a key is required") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::uint64_t head = log_position(server);
  const std::string key = bearer_line(server.admin_key());
  for (const std::string& query :
       {std::string("from_position=abc"), std::string("from_position=-1"),
        fmt::format("from_position={}", head + 2), std::string("from_position=1e3"),
        std::string("type=no%20such"), std::string("stream=")}) {
    SseClient refused(server.port(), "/api/v1/events/stream?" + query, key);
    INFO(query << ": " << refused.head);
    CHECK(refused.status == 400);
    CHECK(refused.header("content-type") == "application/json");
    CHECK(refused.body.value("code", "") == "INVALID_PARAMETER");
  }
  for (const std::string& id :
       {std::string("x"), std::string("-3"), fmt::format("{}", head + 1), std::string("")}) {
    SseClient refused(server.port(), "/api/v1/events/stream", key + "Last-Event-ID: " + id + "\r\n");
    INFO("Last-Event-ID " << id << ": " << refused.head);
    CHECK(refused.status == 400);
    CHECK(refused.body.value("code", "") == "INVALID_PARAMETER");
  }
  SseClient anonymous(server.port(), "/api/v1/events/stream", "");
  CHECK(anonymous.status == 401);
  CHECK(anonymous.body.value("code", "") == "UNAUTHORIZED");
  // The head itself is a fine place to resume from, and nothing changed.
  SseClient at_head(server.port(), "/api/v1/events/stream", key + fmt::format("Last-Event-ID: {}\r\n", head));
  CHECK(at_head.status == 200);
  CHECK(log_position(server) == head);
}

TEST_CASE("event stream: a reader that stops holds no memory for it and slows nobody, then catches up") {
  TempDir dir;
  // The manual clock keeps the stall timeout from cutting the readers off here.
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--test-manual-clock"});
  const std::vector<std::string> agents = register_agents(server, "slow", 8);
  const std::uint64_t start = log_position(server) + 1;
  std::vector<std::unique_ptr<SseClient>> stalled;
  for (int index = 0; index < 6; ++index) {
    stalled.push_back(std::make_unique<SseClient>(
        server.port(), fmt::format("/api/v1/events/stream?from_position={}", start),
        bearer_line(server.admin_key()), 4096));
    REQUIRE(stalled.back()->status == 200);
  }
  const std::size_t rss_before = rss_kib(server);
  // About 120 MB of events; six readers that held them would hold 720 MB.
  report_many(server, agents, 2000, 60'000);
  // Heartbeats and appends are still answered.
  heartbeat(server, agents[0]);
  const Registered after = register_agent(server, "slow-after");
  const std::size_t rss_after = rss_kib(server);
  MESSAGE("RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
#if defined(MUSTER_ASAN)
  // An ASan muster keeps freed memory in its quarantine (256 MB by default)
  // before reusing it, and RSS counts that too (measured: +425 MB here).
  constexpr std::size_t kQuarantineKib = 256 * 1024;
#else
  constexpr std::size_t kQuarantineKib = 0;
#endif
  CHECK(rss_after < rss_before + 300 * 1024 + kQuarantineKib);
  // A stalled reader reads again: everything, from the store, in order.
  const std::vector<SseEvent> events = read_through(*stalled.front(), after.position);
  CHECK(ids_of_events(events) == positions(start, after.position));
}

TEST_CASE(
    "event stream: keep-alives come on the clock, and a reader that takes nothing is cut off with a last "
    "event") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--test-manual-clock"});
  const std::vector<std::string> agents = register_agents(server, "stall", 4);
  SseClient reader(server.port(), "/api/v1/events/stream", bearer_line(server.admin_key()));
  SseClient stalled(server.port(), "/api/v1/events/stream?from_position=1", bearer_line(server.admin_key()),
                    4096);
  REQUIRE(reader.status == 200);
  REQUIRE(stalled.status == 200);
  report_many(server, agents, 400, 60'000);
  const std::uint64_t head = log_position(server);
  read_through(reader, head);
  // Keep-alives come as the server's clock moves. The stalled reader is cut
  // off at the first one 60 s after it stopped taking anything, and dropped
  // at the first one 60 s after that: one more keep-alive (at most 36 s
  // later) shows that the round that cut it off is over.
  TimeMs moved = 0;
  int keep_alives = 0;
  while (moved < 60'000) {
    moved += advance_to_keep_alive(server, reader);
    ++keep_alives;
  }
  advance_to_keep_alive(server, reader);
  CHECK(keep_alives >= 2);
  std::vector<SseEvent> events;
  while (auto event = stalled.next_event(std::chrono::seconds(15))) events.push_back(*event);
  REQUIRE(!events.empty());
  const SseEvent last = events.back();
  events.pop_back();
  CHECK(last.event == "error");
  CHECK(json::parse(last.data).value("code", "") == "STREAM_STALLED");
  CHECK(stalled.ended());
  stalled.read_to_close();
  CHECK(stalled.closed_by_server());
  // What it got is the log from 1 without a gap, and it reads on from there.
  std::vector<std::uint64_t> ids = ids_of_events(events);
  REQUIRE(!ids.empty());
  CHECK(ids.back() < head);
  SseClient again(server.port(), "/api/v1/events/stream",
                  bearer_line(server.admin_key()) + fmt::format("Last-Event-ID: {}\r\n", ids.back()));
  for (std::uint64_t id : ids_of_events(read_through(again, head))) ids.push_back(id);
  CHECK(ids == positions(1, head));
}

TEST_CASE("event stream: stopping the server ends each stream with a last event and a clean end") {
  TempDir dir;
  auto server = std::make_unique<MusterServer>(dir.file("data"));
  SseClient stream(server->port(), "/api/v1/events/stream?from_position=1", bearer_line(server->admin_key()));
  REQUIRE(stream.status == 200);
  REQUIRE(stream.next_event().has_value());
  CHECK(server->terminate() == 0);
  const auto last = stream.next_event();
  REQUIRE(last.has_value());
  CHECK(last->event == "error");
  CHECK(json::parse(last->data).value("code", "") == "SHUTTING_DOWN");
  CHECK(stream.ended());
}

}  // namespace muster::e2e
