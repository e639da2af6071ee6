// HTTP/1.1 as a hostile client speaks it: smuggling, ambiguous framing,
// unbounded requests, pipelining. Each case sends raw bytes to the real
// server and reads everything that comes back until the server closes.
// (Findings of the hostile-client review, issue 11; with cpp-httplib as the
// server each of these was reproduced.)

#include <poll.h>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

struct Exchange {
  std::string received;  ///< Every byte the server sent.
  bool closed = false;   ///< The server closed the connection.
  /// The status of each response, in order.
  std::vector<int> statuses() const {
    std::vector<int> found;
    for (std::size_t at = received.find("HTTP/1.1 "); at != std::string::npos;
         at = received.find("HTTP/1.1 ", at + 1)) {
      found.push_back(std::stoi(received.substr(at + 9, 3)));
    }
    return found;
  }
};

// Sends `bytes`, then reads until the server closes or is silent for `quiet`.
Exchange exchange(int port, const std::string& bytes,
                  std::chrono::milliseconds quiet = std::chrono::milliseconds(1500)) {
  Exchange result;
  const int fd = connect_loopback(port);
  REQUIRE(fd >= 0);
  send_all(fd, bytes);
  char buffer[8192];
  while (true) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(quiet.count())) <= 0) break;
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) {
      result.closed = true;
      break;
    }
    result.received.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return result;
}

std::string post_tokens_request(const MusterServer& server) {
  const std::string body = R"({"name":"smuggled"})";
  return "POST /api/v1/enrollment-tokens HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " + server.admin_key() +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::size_t tokens_created(const MusterServer& server) {
  return log_events(server, "type=EnrollmentTokenCreated").size();
}

}  // namespace

TEST_CASE("strict HTTP: a request hidden in a body is never run (smuggling)") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::size_t before = tokens_created(server);
  const std::string hidden = post_tokens_request(server);

  SUBCASE("GET with a Content-Length body: the body is read and dropped") {
    const Exchange answer = exchange(
        server.port(), "GET /healthz HTTP/1.1\r\nHost: m\r\nContent-Length: " + std::to_string(hidden.size()) +
                           "\r\n\r\n" + hidden);
    CHECK(answer.statuses() == std::vector<int>{200});
  }
  SUBCASE("a POST refused from its head (415): a small body is read and dropped, never run") {
    const std::string body = hidden;
    const Exchange answer = exchange(server.port(),
                                     "POST /api/v1/agents/register HTTP/1.1\r\nHost: m\r\nContent-Type: text/plain\r\n"
                                     "Content-Length: " +
                                         std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(answer.statuses() == std::vector<int>{415});
  }
  SUBCASE("a POST refused from its head with a large body: the connection ends with the answer") {
    const std::string body = std::string(100'000, ' ') + hidden;
    const Exchange answer = exchange(server.port(),
                                     "POST /api/v1/agents/register HTTP/1.1\r\nHost: m\r\nContent-Type: text/plain\r\n"
                                     "Content-Length: " +
                                         std::to_string(body.size()) + "\r\n\r\n" + body,
                                     std::chrono::milliseconds(3000));
    CHECK(answer.statuses() == std::vector<int>{415});
    CHECK(answer.closed);
  }
  SUBCASE("Content-Length: 0 with Transfer-Encoding: chunked") {
    const Exchange answer =
        exchange(server.port(), "POST /api/v1/agents/register HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n" +
                                    hidden);
    CHECK(answer.statuses() == std::vector<int>{400});
    CHECK(answer.closed);
  }
  CHECK(tokens_created(server) == before);
}

TEST_CASE("strict HTTP: ambiguous framing is refused with 400 and the connection closed") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  // With a valid credential, so that the body is read (a refused request's is not).
  const std::string start = "POST /api/v1/agents/register HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\n"
                            "Authorization: Bearer " +
                            server.enrollment_token() + "\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"both framings", start + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"two different lengths", start + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"},
      {"length 2abc", start + "Content-Length: 2abc\r\n\r\n{}"},
      {"length +2", start + "Content-Length: +2\r\n\r\n{}"},
      {"length list", start + "Content-Length: 2, 2\r\n\r\n{}"},
      {"percent-encoded coding", start + "Transfer-Encoding: %63hunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"},
      {"gzip, chunked", start + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"},
      {"chunk size 0x2", start + "Transfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n"},
      {"chunk size with a space", start + "Transfer-Encoding: chunked\r\n\r\n 2\r\n{}\r\n0\r\n\r\n"},
      {"chunk without its CRLF", start + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n"},
      {"bare LF in headers", "POST /api/v1/agents/register HTTP/1.1\nHost: m\nContent-Length: 2\n\n{}"},
      {"bare LF ending the head", start + "Content-Length: 2\r\n\n{}"},
      {"space before the colon", start + "Content-Length : 2\r\n\r\n{}"},
      {"obsolete line folding", start + "X-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}"},
  };
  for (const auto& named : cases) {
    const auto& name = named.first;
    const auto& request = named.second;
    INFO(name);
    const Exchange answer = exchange(server.port(), request);
    CHECK(answer.statuses() == std::vector<int>{400});
    CHECK(answer.closed);
  }
  // Nothing was registered by any of them.
  CHECK(stats(server).at("total") == 0);
}

TEST_CASE("strict HTTP: bounds hold before any work, however the body is framed") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--max-body-bytes", "1024", "--max-header-fields", "50",
                                         "--max-header-bytes", "8192"});
  const Registered agent = register_agent(server, "bounded");
  const std::string token = MusterServer::agent_token_of(agent.agent_id);
  const std::string heartbeat_head = "POST /api/v1/agents/" + agent.agent_id +
                                     "/heartbeat HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " + token +
                                     "\r\nContent-Type: application/json\r\n";

  SUBCASE("a chunked body over --max-body-bytes answers 413") {
    std::string chunks;
    for (int index = 0; index < 8; ++index) chunks += "100\r\n" + std::string(256, ' ') + "\r\n";
    const Exchange answer =
        exchange(server.port(), heartbeat_head + "Transfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n");
    CHECK(answer.statuses() == std::vector<int>{413});
    CHECK(answer.closed);
  }
  SUBCASE("a Content-Length over it answers 413 without waiting for the body") {
    const Exchange answer = exchange(server.port(), heartbeat_head + "Content-Length: 1000000\r\n\r\n");
    CHECK(answer.statuses() == std::vector<int>{413});
  }
  SUBCASE("too many header fields answer 431") {
    std::string request = "GET /healthz HTTP/1.1\r\nHost: m\r\n";
    for (int index = 0; index < 60; ++index) request += fmt::format("X-H{}: v\r\n", index);
    const Exchange answer = exchange(server.port(), request + "\r\n");
    CHECK(answer.statuses() == std::vector<int>{431});
    CHECK(answer.closed);
  }
  SUBCASE("a header block over --max-header-bytes answers 431") {
    const Exchange answer =
        exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: m\r\nX-Big: " + std::string(10'000, 'a') + "\r\n\r\n");
    CHECK(answer.statuses() == std::vector<int>{431});
    CHECK(answer.closed);
  }
  SUBCASE("a JSON body nested deeper than the bound is refused, not parsed") {
    const std::string deep = std::string(200, '[') + std::string(200, ']');
    const std::string body = R"({"metrics":)" + deep + "}";
    const Exchange answer = exchange(
        server.port(), heartbeat_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    REQUIRE(answer.statuses() == std::vector<int>{400});
    CHECK(answer.received.find("INVALID_JSON") != std::string::npos);
  }
  CHECK(get_json(server, "/readyz").at("status") == "ready");
}

TEST_CASE("strict HTTP: a guessed agent token is refused before its body is parsed, and throttled") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--auth-failures-per-minute", "5"});
  const std::string body = R"({"metrics":{"cpu":1}})";
  std::vector<int> statuses;
  for (int index = 0; index < 7; ++index) {
    // Made-up agent ids with made-up tokens: unknown ids answer like wrong tokens.
    const std::string agent_id = fmt::format("00000000-0000-4000-8000-{:012d}", index);
    const std::string token = "ma_" + agent_id + "_" + std::string(43, 'A');
    const Exchange answer = exchange(server.port(), "POST /api/v1/agents/" + agent_id +
                                                        "/heartbeat HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " +
                                                        token + "\r\nContent-Type: application/json\r\n"
                                                        "Content-Length: " +
                                                        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                                        body);
    REQUIRE(answer.statuses().size() == 1);
    statuses.push_back(answer.statuses().front());
  }
  CHECK(std::count(statuses.begin(), statuses.end(), 401) == 5);
  CHECK(statuses.back() == 429);
  CHECK(server.log_text().find("\"authentication failed\"") != std::string::npos);
  CHECK(server.log_text().find("\"throttled\"") != std::string::npos);
}

TEST_CASE("strict HTTP: requests sent back to back are all answered, in order (pipelining)") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string get_healthz = "GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n";
  const std::string get_missing = "GET /nowhere HTTP/1.1\r\nHost: m\r\n\r\n";
  const std::string get_stats = "GET /api/v1/stats HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " +
                                server.admin_key() + "\r\n\r\n";
  const Exchange answer = exchange(server.port(), get_healthz + get_missing + get_stats + get_healthz);
  CHECK(answer.statuses() == std::vector<int>{200, 404, 200, 200});
}

TEST_CASE("strict HTTP: methods, duplicate credentials, media types and storage errors") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  SUBCASE("GET on the registration route is 405 with Allow: POST") {
    const HttpAnswer answer = server.get("/api/v1/agents/register");
    check_error(answer, 405, "METHOD_NOT_ALLOWED");
    CHECK(header_of(answer, "Allow") == "POST");
  }
  SUBCASE("two Authorization headers are refused") {
    const Exchange answer = exchange(server.port(), "GET /api/v1/stats HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " +
                                                        server.admin_key() + "\r\nAuthorization: Bearer " +
                                                        server.admin_key() + "\r\n\r\n");
    CHECK(answer.statuses() == std::vector<int>{400});
    CHECK(answer.received.find("DUPLICATE_HEADER") != std::string::npos);
  }
  SUBCASE("media types compare case-insensitively") {
    const HttpAnswer answer = server.post("/api/v1/agents/register", registration_body("media").dump(),
                                          "Application/JSON; charset=UTF-8");
    CHECK(answer.status == 201);
  }
}

TEST_CASE("two listeners: agents' routes on both, operators' only on --listen") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  REQUIRE(server.agent_port() != 0);
  REQUIRE(server.agent_port() != server.port());
  const std::string token = server.enrollment_token();
  const std::string body = registration_body("via-agent-port").dump();
  const Exchange registered =
      exchange(server.agent_port(), "POST /api/v1/agents/register HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " +
                                        token + "\r\nContent-Type: application/json\r\nContent-Length: " +
                                        std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(registered.statuses() == std::vector<int>{201});
  const std::string stats = "GET /api/v1/stats HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " +
                            server.admin_key() + "\r\n\r\n";
  CHECK(exchange(server.agent_port(), stats).statuses() == std::vector<int>{404});
  CHECK(exchange(server.port(), stats).statuses() == std::vector<int>{200});
  CHECK(exchange(server.agent_port(), "GET /readyz HTTP/1.1\r\nHost: m\r\n\r\n").statuses() ==
        std::vector<int>{200});
}

TEST_CASE("two listeners: --agent-listen off serves agents on the operators' listener only") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--agent-listen", "off"});
  CHECK(server.agent_port() == 0);
  CHECK(register_agent(server, "one-port").status == 201);
}

TEST_CASE("connections: one address may hold at most --max-connections-per-address") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--max-connections-per-address", "3"});
  // Three connections the server accepted, each known by its 200. The
  // harness's own connections (it asked whether the server was ready) count
  // until the server has seen them close, so a connection opened meanwhile
  // may be refused: it is closed and opened again.
  const std::string healthz = "GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n";
  std::vector<int> held;
  const auto hold_one_more = [&] {
    const int fd = connect_loopback(server.port());
    char buffer[512];
    ssize_t got = -1;
    if (fd >= 0 && ::send(fd, healthz.data(), healthz.size(), MSG_NOSIGNAL) > 0) {
      got = ::recv(fd, buffer, sizeof buffer, 0);
    }
    if (got > 0 && std::string_view(buffer, static_cast<std::size_t>(got)).rfind("HTTP/1.1 200", 0) == 0) {
      held.push_back(fd);
    } else if (fd >= 0) {
      ::close(fd);
    }
    return held.size() == 3;
  };
  REQUIRE(eventually(hold_one_more));
  const Exchange refused = exchange(server.port(), healthz);
  CHECK(refused.statuses() == std::vector<int>{503});
  CHECK(refused.received.find("TOO_MANY_CONNECTIONS") != std::string::npos);
  for (int fd : held) ::close(fd);
  CHECK(eventually([&] { return exchange(server.port(), healthz).statuses() == std::vector<int>{200}; },
                   std::chrono::seconds(10)));
}

}  // namespace muster::e2e
