#pragma once
/// Shared steps of the end-to-end suites: calls on a running `muster serve`
/// that check their own answer (registering, heartbeating, paging through
/// lists and logs), a raw-socket request for what httplib will not send, and
/// a background load of registrations for the crash and shutdown tests.
///
/// Helpers that REQUIRE something fail the calling test case. `RegistrationLoad`
/// workers never assert; they record into thread-safe storage.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/percent_encoding.hpp"
#include "common/time_format.hpp"
#include "tests/support/muster_process.hpp"
#include "tests/support/ports.hpp"
#include "tests/support/temp_dir.hpp"

namespace doctest {
/// Lets CHECK(a == b) print both sides when they are lists of strings.
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& items) {
    return fmt::format("[{}]", fmt::join(items, ", ")).c_str();
  }
};
}  // namespace doctest

namespace muster::e2e {

using nlohmann::json;
using testing::CommandResult;
using testing::eventually;
using testing::HttpAnswer;
using testing::MusterServer;
using testing::run_muster;
using testing::TempDir;
using testing::unused_loopback_port;

/// Appends "?" or "&" and `parameter` to `path`.
inline std::string with_query(const std::string& path, const std::string& parameter) {
  if (parameter.empty()) return path;
  return path + (path.find('?') == std::string::npos ? "?" : "&") + parameter;
}

/// Milliseconds since the Unix epoch on this machine's clock (the server's too).
inline TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Parses an RFC 3339 time the server printed; REQUIREs that it parses.
inline TimeMs time_of(const std::string& text) {
  const auto parsed = parse_rfc3339(text);
  REQUIRE_MESSAGE(parsed.ok(), "not an RFC 3339 time: " << text);
  return *parsed;
}

/// Waits (polling the clock, at most `timeout`) until the clock has passed
/// `time_ms`, so that the next event gets a later timestamp.
inline void wait_until_clock_passes(TimeMs time_ms,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  REQUIRE(eventually([&] { return now_ms() > time_ms; }, timeout));
}

/// Moves the manual clock of a server started with `--enable-test-hooks
/// --test-manual-clock` forward by `ms` (0 reads it); returns the server's
/// time after the move.
inline TimeMs advance_clock(const MusterServer& server, std::int64_t ms) {
  const HttpAnswer answer = server.post("/_test/clock/advance", json({{"ms", ms}}).dump());
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  return answer.json.at("now_ms").get<TimeMs>();
}

/// The value of header `name` (case-insensitive) in `answer`, or empty.
inline std::string header_of(const HttpAnswer& answer, const std::string& name) {
  const auto found = answer.headers.find(name);
  return found == answer.headers.end() ? std::string() : found->second;
}

/// Checks that `answer` is an error in the API's shape: `status`, a JSON
/// object with a string `error` and the given `code`.
inline void check_error(const HttpAnswer& answer, int status, const std::string& code) {
  INFO("answer: " << answer.status << " " << answer.body);
  CHECK(answer.status == status);
  CHECK(header_of(answer, "Content-Type").rfind("application/json", 0) == 0);
  REQUIRE(answer.json.is_object());
  CHECK(answer.json.contains("error"));
  CHECK(answer.json.value("error", json()).is_string());
  CHECK(answer.json.value("code", json()) == code);
}

/// What a successful registration answered.
struct Registered {
  int status = 0;  ///< 201 for a new instance, 200 for a known one.
  std::string agent_id;
  std::uint64_t position = 0;
  json body;
};

/// The registration body for `instance_id` with `fields` merged in.
inline json registration_body(const std::string& instance_id, const json& fields = json::object()) {
  json body = fields;
  body["instance_id"] = instance_id;
  return body;
}

/// Registers `instance_id` with `fields` merged into the body; REQUIREs 200 or 201.
inline Registered register_agent(const MusterServer& server, const std::string& instance_id,
                                 const json& fields = json::object()) {
  const HttpAnswer answer =
      server.post("/api/v1/agents/register", registration_body(instance_id, fields).dump());
  INFO("register " << instance_id << ": " << answer.status << " " << answer.body);
  REQUIRE((answer.status == 200 || answer.status == 201));
  REQUIRE(answer.json.is_object());
  Registered registered;
  registered.status = answer.status;
  registered.agent_id = answer.json.at("agent_id").get<std::string>();
  registered.position = answer.json.at("position").get<std::uint64_t>();
  registered.body = answer.json;
  return registered;
}

/// Registers `count` agents "<prefix>-<n>" with `labels`, from `threads`
/// clients each on one kept-alive connection; returns their ids in order
/// (and their agent tokens in `tokens`, if given).
inline std::vector<std::string> register_many(const MusterServer& server, std::size_t count,
                                              const std::string& prefix, const json& labels, int threads = 16,
                                              std::vector<std::string>* tokens = nullptr) {
  std::vector<std::string> ids(count);
  if (tokens != nullptr) tokens->assign(count, std::string());
  std::atomic<std::size_t> failures{0};
  const std::string token = server.enrollment_token();
  std::vector<std::thread> workers;
  for (int worker = 0; worker < threads; ++worker) {
    workers.emplace_back([&, worker] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_keep_alive(true);
      client.set_read_timeout(30, 0);
      const httplib::Headers headers{{"Authorization", "Bearer " + token}};
      for (std::size_t index = worker; index < count; index += threads) {
        const json body = registration_body(fmt::format("{}-{}", prefix, index), {{"labels", labels}});
        const auto answer = client.Post("/api/v1/agents/register", headers, body.dump(), "application/json");
        const json parsed = answer ? json::parse(answer->body, nullptr, false) : json();
        if (!answer || answer->status != 201 || !parsed.is_object()) {
          ++failures;
          continue;
        }
        ids[index] = parsed.at("agent_id").get<std::string>();
        if (tokens != nullptr) (*tokens)[index] = parsed.at("agent_token").get<std::string>();
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  REQUIRE(failures == 0);
  return ids;
}

/// Sends a heartbeat; REQUIREs 200 and returns the answer's body.
inline json heartbeat(const MusterServer& server, const std::string& agent_id,
                      const json& body = json::object()) {
  const HttpAnswer answer = server.post("/api/v1/agents/" + agent_id + "/heartbeat", body.dump());
  INFO("heartbeat " << agent_id << ": " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 200);
  REQUIRE(answer.json.is_object());
  return answer.json;
}

/// Sends `body` as JSON with `method` (and `headers`, else the credential
/// MusterServer::send picks for the route).
inline HttpAnswer send_json(const MusterServer& server, const std::string& method, const std::string& path,
                            const json& body, httplib::Headers headers = {}) {
  headers.emplace("Content-Type", "application/json");
  return server.send(method, path, body.dump(), headers);
}

/// Puts `assignment` as `group`'s assignment; REQUIREs 200.
inline void assign_group(const MusterServer& server, const std::string& group, const json& assignment) {
  const HttpAnswer answer = send_json(server, "PUT", "/api/v1/groups/" + group + "/assignment", assignment);
  INFO(answer.body);
  REQUIRE(answer.status == 200);
}

/// A config's files: collector.yaml holding `body`.
inline json collector_files(const std::string& body) {
  return {{"collector.yaml", {{"content_type", "application/yaml"}, {"body", body}}}};
}

/// The Authorization header that presents `credential` as a bearer token.
inline httplib::Headers bearer(const std::string& credential) {
  return {{"Authorization", "Bearer " + credential}};
}

/// GET `path` (with `min_position` when non-zero); REQUIREs 200 and a JSON body.
inline json get_json(const MusterServer& server, const std::string& path, std::uint64_t min_position = 0) {
  const std::string target =
      min_position == 0 ? path : with_query(path, fmt::format("min_position={}", min_position));
  const HttpAnswer answer = server.get(target);
  INFO("GET " << target << ": " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 200);
  REQUIRE(!answer.json.is_discarded());
  return answer.json;
}

inline json stats(const MusterServer& server, std::uint64_t min_position = 0) {
  return get_json(server, "/api/v1/stats", min_position);
}

/// The head of the event log, as /api/v1/stats reports it.
inline std::uint64_t log_position(const MusterServer& server) {
  return stats(server).at("log_position").get<std::uint64_t>();
}

/// One agent with its health block, read after `min_position` is projected.
inline json get_agent(const MusterServer& server, const std::string& agent_id,
                      std::uint64_t min_position = 0) {
  return get_json(server, "/api/v1/agents/" + agent_id, min_position);
}

/// Every agent of the list matching `query` ("status=ONLINE&type=edge"),
/// following `next_cursor` with pages of `page_size`. REQUIREs each page to
/// report the same total and the pages to add up to it.
inline std::vector<json> list_agents(const MusterServer& server, const std::string& query = "",
                                     std::uint64_t min_position = 0, std::size_t page_size = 1000) {
  std::vector<json> agents;
  std::string cursor;
  std::uint64_t total = 0;
  for (int page_idx = 0;; ++page_idx) {
    REQUIRE(page_idx < 10'000);
    std::string path = with_query("/api/v1/agents", query);
    path = with_query(path, fmt::format("limit={}", page_size));
    if (!cursor.empty()) path = with_query(path, "cursor=" + url_encode(cursor));
    const json page = get_json(server, path, min_position);
    REQUIRE(page.at("agents").is_array());
    if (page_idx == 0) total = page.at("total").get<std::uint64_t>();
    CHECK(page.at("total").get<std::uint64_t>() == total);
    CHECK(page.at("agents").size() <= page_size);
    for (const json& agent : page.at("agents")) agents.push_back(agent);
    if (page.at("next_cursor").is_null()) break;
    cursor = page.at("next_cursor").get<std::string>();
  }
  CHECK(agents.size() == total);
  return agents;
}

/// The agent ids in a list of agents or events ("agent_id" or "stream").
/// A new data directory's log starts with the bootstrap admin key's ApiKeyCreated.
constexpr std::uint64_t kBootstrapEvents = 1;
/// MusterServer::send makes its enrollment token when it sends its first
/// registration: one EnrollmentTokenCreated, before that registration's events.
constexpr std::uint64_t kEnrollmentTokenEvents = 1;
/// Every registration first spends a use of its enrollment token: one
/// EnrollmentTokenUsed in the token's stream, before the agent's events.
constexpr std::uint64_t kEnrollmentUseEvents = 1;
/// A new agent's registration appends AgentRegistered, then AgentTokenIssued.
constexpr std::uint64_t kNewAgentEvents = 2;

/// An agent's stream: "agent:<agent_id>".
inline std::string agent_stream(const std::string& agent_id) {
  return "agent:" + agent_id;
}

/// The agent whose stream `stream` is ("agent:<id>", or a bare id in data
/// directories from before stream kinds); empty for other streams.
inline std::string agent_of_stream(const std::string& stream) {
  if (stream.rfind("agent:", 0) == 0) return stream.substr(6);
  return stream.find(':') == std::string::npos ? stream : std::string();
}

/// The agent ids of agents (from lists) or of events (their stream); events of
/// other streams, such as "apikey:<id>", are left out.
inline std::set<std::string> ids_of(const std::vector<json>& items) {
  std::set<std::string> ids;
  for (const json& item : items) {
    const std::string id = item.contains("agent_id") ? item.at("agent_id").get<std::string>()
                                                     : agent_of_stream(item.at("stream"));
    if (!id.empty()) ids.insert(id);
  }
  return ids;
}

/// The whole global log, paged through /api/v1/events.
inline std::vector<json> log_events(const MusterServer& server, const std::string& query = "") {
  std::vector<json> events;
  std::uint64_t from_position = 1;
  for (int page_idx = 0;; ++page_idx) {
    REQUIRE(page_idx < 100'000);
    const json page = get_json(
        server, with_query(fmt::format("/api/v1/events?limit=1000&from_position={}", from_position), query));
    for (const json& event : page.at("events")) events.push_back(event);
    if (page.at("next_from_position").is_null()) break;
    const std::uint64_t next = page.at("next_from_position").get<std::uint64_t>();
    REQUIRE(next > from_position);
    from_position = next;
  }
  return events;
}

/// Every event of one agent's stream, paged through /api/v1/agents/{id}/events.
inline std::vector<json> stream_events(const MusterServer& server, const std::string& agent_id) {
  std::vector<json> events;
  std::uint64_t from_version = 1;
  for (int page_idx = 0;; ++page_idx) {
    REQUIRE(page_idx < 10'000);
    const json page = get_json(
        server, fmt::format("/api/v1/agents/{}/events?limit=1000&from_version={}", agent_id, from_version));
    CHECK(page.at("agent_id") == agent_id);
    for (const json& event : page.at("events")) events.push_back(event);
    if (page.at("next_from_version").is_null()) break;
    from_version = page.at("next_from_version").get<std::uint64_t>();
  }
  return events;
}

inline std::vector<std::string> types_of(const std::vector<json>& events) {
  std::vector<std::string> types;
  for (const json& event : events) types.push_back(event.at("type").get<std::string>());
  return types;
}

/// The event types of one agent's stream, in order.
inline std::vector<std::string> stream_types(const MusterServer& server, const std::string& agent_id) {
  return types_of(stream_events(server, agent_id));
}

/// The non-empty lines of `text`.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

/// Writes a self-signed certificate for 127.0.0.1 (and its key) with the
/// openssl command, for a server started with --tls-cert and --tls-key.
inline void make_certificate(const std::string& cert, const std::string& key) {
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
}

/// The answer to a raw HTTP request, for requests httplib's client will not
/// send (a POST without Content-Length).
struct RawAnswer {
  int status = 0;  ///< 0 when no status line came back.
  std::string head;
  json body;  ///< Discarded when the body is not JSON.
  /// Whether the server closed the connection within the wait given.
  bool closed = false;
};

/// A new TCP connection to 127.0.0.1:`port`, or -1 when none could be made.
/// From `source` (another address of 127/8, such as "127.0.0.2") when given:
/// a client the server tells apart from the test's other connections.
inline int connect_loopback(int port, const char* source = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
  ::close(fd);
  return -1;
}

/// `program args...` (a path, or a name looked up on PATH) running in the background, its
/// standard output in `out_path` and its standard error in `err_path`;
/// SIGTERM and waited for (SIGKILL after 20 s) when it goes.
class ChildProcess {
 public:
  ChildProcess(const std::string& program, std::vector<std::string> args, const std::string& out_path,
               const std::string& err_path) {
    std::vector<char*> argv;
    std::string name = program;
    argv.push_back(name.data());
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::fflush(stdout);  // else the child's copy of unwritten output is written twice
    std::fflush(stderr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      std::freopen(out_path.c_str(), "w", stdout);
      std::freopen(err_path.c_str(), "w", stderr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    ::kill(pid_, SIGTERM);
    const bool ended =
        eventually([this] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, std::chrono::seconds(20));
    if (!ended) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

 private:
  pid_t pid_ = -1;
};

/// Sends all of `bytes` on `fd`, or as much as the connection takes.
inline void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t written = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (written <= 0) break;
    sent += static_cast<std::size_t>(written);
  }
}

/// Sends `request` as is on a new connection to 127.0.0.1:`port` and reads
/// one response (its head and Content-Length body), waiting at most
/// `response_timeout` between bytes. Then waits up to `close_wait` for the
/// server to close the connection. From `source` as connect_loopback.
inline RawAnswer raw_request(int port, const std::string& request,
                             std::chrono::milliseconds response_timeout = std::chrono::seconds(15),
                             std::chrono::milliseconds close_wait = std::chrono::milliseconds(0),
                             const char* source = nullptr) {
  RawAnswer answer;
  const int socket_fd = connect_loopback(port, source);
  if (socket_fd < 0) return answer;
  const auto set_receive_timeout = [socket_fd](std::chrono::milliseconds timeout) {
    timeval limit{static_cast<time_t>(timeout.count() / 1000),
                  static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(socket_fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  };
  set_receive_timeout(response_timeout);
  send_all(socket_fd, request);
  // Reads until the head and the body it announces are in (or EOF).
  std::string response;
  std::size_t expected_size = std::string::npos;
  char buffer[4096];
  while (response.size() < expected_size) {
    const ssize_t got = ::recv(socket_fd, buffer, sizeof buffer, 0);
    if (got <= 0) {
      answer.closed = got == 0;
      break;
    }
    response.append(buffer, static_cast<std::size_t>(got));
    const auto head_end = response.find("\r\n\r\n");
    if (expected_size == std::string::npos && head_end != std::string::npos) {
      std::string head = response.substr(0, head_end);
      std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
      const auto length_at = head.find("\r\ncontent-length:");
      const std::size_t body_size =
          length_at == std::string::npos ? 0 : std::stoul(head.substr(length_at + 17));
      expected_size = head_end + 4 + body_size;
    }
  }
  if (!answer.closed && close_wait.count() > 0) {
    set_receive_timeout(close_wait);
    answer.closed = ::recv(socket_fd, buffer, sizeof buffer, 0) == 0;
  }
  ::close(socket_fd);
  const auto blank_line = response.find("\r\n\r\n");
  answer.head = response.substr(0, blank_line);
  if (response.rfind("HTTP/1.1 ", 0) == 0 && response.size() >= 12)
    answer.status = std::stoi(response.substr(9, 3));
  if (blank_line != std::string::npos)
    answer.body = json::parse(response.substr(blank_line + 4), nullptr, false);
  return answer;
}

/// Background registrations of distinct instances from several client
/// threads, recording every acknowledged one, until `stop()` or the first
/// failed request (which is how a killed or stopping server shows).
class RegistrationLoad {
 public:
  struct Ack {
    std::string instance_id;
    std::string agent_id;
    std::uint64_t position = 0;
  };

  RegistrationLoad(const MusterServer& server, int thread_count) {
    for (int thread_idx = 0; thread_idx < thread_count; ++thread_idx) {
      workers_.emplace_back([this, &server, thread_idx] { run(server, thread_idx); });
    }
  }
  ~RegistrationLoad() { stop(); }
  RegistrationLoad(const RegistrationLoad&) = delete;
  RegistrationLoad& operator=(const RegistrationLoad&) = delete;

  /// Asks the workers to finish their current request and waits for them.
  void stop() {
    stopping_ = true;
    for (std::thread& worker : workers_) {
      if (worker.joinable()) worker.join();
    }
  }

  std::size_t ack_count() const { return ack_count_.load(); }
  /// Threads that saw a failed request (and stopped).
  int failed_threads() const { return failed_threads_.load(); }
  /// Answers that were neither an acknowledgement nor a failed connection.
  std::vector<std::string> unexpected_answers() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return unexpected_;
  }
  std::vector<Ack> acks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return acks_;
  }

 private:
  void run(const MusterServer& server, int thread_idx) {
    for (int request_idx = 0; !stopping_; ++request_idx) {
      const std::string instance_id = fmt::format("load-{}-{}", thread_idx, request_idx);
      const HttpAnswer answer =
          server.post("/api/v1/agents/register", registration_body(instance_id, {{"version", "1.0"}}).dump());
      if (answer.status == 201 && answer.json.is_object()) {
        std::lock_guard<std::mutex> lock(mutex_);
        acks_.push_back(Ack{instance_id, answer.json.at("agent_id").get<std::string>(),
                            answer.json.at("position").get<std::uint64_t>()});
        ++ack_count_;
        continue;
      }
      if (answer.status != 0 && answer.status != 503) {
        std::lock_guard<std::mutex> lock(mutex_);
        unexpected_.push_back(fmt::format("{} {}", answer.status, answer.body));
      }
      ++failed_threads_;
      return;
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> ack_count_{0};
  std::atomic<int> failed_threads_{0};
  mutable std::mutex mutex_;
  std::vector<Ack> acks_;
  std::vector<std::string> unexpected_;
};

/// After a restart: checks that the log holds positions 1..head exactly once,
/// that every acknowledged registration is the AgentRegistered and
/// AgentTokenIssued events ending at the position its answer gave, that each
/// such agent is served, listed and ONLINE, and that the counts agree with the log. Returns the head
/// position.
inline std::uint64_t check_log_holds_acknowledged(const MusterServer& server,
                                                  const std::vector<RegistrationLoad::Ack>& acks) {
  const std::vector<json> log = log_events(server);
  const std::uint64_t head = log_position(server);

  CHECK(log.size() == head);
  std::size_t misplaced = 0;
  for (std::size_t event_idx = 0; event_idx < log.size(); ++event_idx) {
    if (log[event_idx].at("position") != event_idx + 1) ++misplaced;
  }
  CHECK(misplaced == 0);

  std::size_t lost = 0;
  std::size_t wrong = 0;
  for (const RegistrationLoad::Ack& ack : acks) {
    if (ack.position < kNewAgentEvents || ack.position > log.size()) {
      ++lost;
      continue;
    }
    // A new agent's registration appends AgentRegistered, then AgentTokenIssued
    // (the acknowledged position).
    const json& issued = log[ack.position - 1];
    const json& registered = log[ack.position - 2];
    if (issued.at("type") != "AgentTokenIssued" || issued.at("stream") != agent_stream(ack.agent_id) ||
        registered.at("type") != "AgentRegistered" || registered.at("stream") != agent_stream(ack.agent_id) ||
        registered.at("data").value("instance_id", "") != ack.instance_id) {
      ++wrong;
    }
  }
  CHECK(lost == 0);
  CHECK(wrong == 0);

  const std::set<std::string> listed = ids_of(list_agents(server, "", head));
  std::size_t missing = 0;
  for (const RegistrationLoad::Ack& ack : acks) {
    const HttpAnswer answer =
        server.get(fmt::format("/api/v1/agents/{}?min_position={}", ack.agent_id, head));
    if (answer.status != 200 || answer.json.value("status", "") != "ONLINE" ||
        listed.count(ack.agent_id) == 0) {
      ++missing;
    }
  }
  CHECK(missing == 0);

  std::size_t registered_events = 0;
  for (const json& event : log) {
    if (event.at("type") == "AgentRegistered") ++registered_events;
  }
  const std::size_t distinct_agents = ids_of(log).size();
  CHECK(registered_events == distinct_agents);
  CHECK(stats(server, head).at("total") == distinct_agents);
  CHECK(listed.size() == distinct_agents);
  return head;
}

/// The server's resident memory in KiB (VmRSS).
inline std::size_t rss_kib(const MusterServer& server) {
  std::ifstream status(fmt::format("/proc/{}/status", server.pid()));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

}  // namespace muster::e2e
