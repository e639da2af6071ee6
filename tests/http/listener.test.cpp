// The Beast listener on its own: the framing rules it checks before Beast
// parses, and a real listener serving the pipeline's probe routes to
// concurrent keep-alive clients while it is stopped (the suite runs under
// ThreadSanitizer in scripts/sanitize).

#include <doctest/doctest.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "common/timers.hpp"
#include "http/api.hpp"
#include "http/listener.hpp"

using namespace muster;
using namespace muster::http;

namespace {

const std::string kStart = "POST /x HTTP/1.1\r\nHost: m\r\n";

bool refused(const std::string& block) {
  return check_header_block(block, 100).has_value();
}

// A real listener on a free port in front of the pipeline with no services
// but time: enough for the probe routes.
struct ProbeServer {
  explicit ProbeServer(ListenerOptions options) {
    REQUIRE(timers.start().ok());
    options.port = 0;
    listener.emplace(options, api);
    REQUIRE(listener->start().ok());
  }
  ~ProbeServer() {
    listener.reset();
    timers.stop();
  }
  int port() const { return listener->port(); }

  RealTimerService timers;
  Services services = [this] {
    Services made;
    made.timers = &timers;
    return made;
  }();
  Api api{ApiOptions{}, services};
  std::optional<HttpListener> listener;
};

}  // namespace

TEST_CASE("the header block check refuses what RFC 9112 forbids or leaves ambiguous") {
  CHECK_FALSE(refused(kStart + "Content-Length: 12\r\n\r\n"));
  CHECK_FALSE(refused(kStart + "Transfer-Encoding: Chunked\r\n\r\n"));
  CHECK_FALSE(refused(kStart + "Content-Length: 2\r\ncontent-length: 2\r\n\r\n"));  // the same length twice
  CHECK_FALSE(refused(kStart + "X-Tab:\tvalue\t\r\n\r\n"));

  CHECK(refused("POST /x HTTP/1.1\nHost: m\r\n\r\n"));
  CHECK(refused(kStart + "X-A: b\rc\r\n\r\n"));
  CHECK(refused(kStart + "X-A: b\r\n c\r\n\r\n"));
  CHECK(refused(kStart + "X-A: b\r\n\tc\r\n\r\n"));
  CHECK(refused(kStart + "X-A : b\r\n\r\n"));
  CHECK(refused(kStart + ": b\r\n\r\n"));
  CHECK(refused(kStart + "X-A b\r\n\r\n"));
  CHECK(refused(kStart + std::string("X-A: b\0c", 8) + "\r\n\r\n"));
  for (const char* length : {"", "2abc", "+2", "-1", "2, 2", " ", "0x10", "1234567890123456789"}) {
    INFO(length);
    CHECK(refused(kStart + "Content-Length: " + length + "\r\n\r\n"));
  }
  CHECK(refused(kStart + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n"));
  for (const char* coding : {"gzip, chunked", "chunked, chunked", "%63hunked", "identity", ""}) {
    INFO(coding);
    CHECK(refused(kStart + "Transfer-Encoding: " + coding + "\r\n\r\n"));
  }
  CHECK(refused(kStart + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK(refused(kStart + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"));

  std::string crowded = kStart;
  for (int index = 0; index < 100; ++index) crowded += "X-H: v\r\n";
  CHECK_FALSE(check_header_block(crowded + "\r\n", 101).has_value());
  const auto too_many = check_header_block(crowded + "\r\n", 100);
  REQUIRE(too_many.has_value());
  CHECK(too_many->too_many);
}

TEST_CASE("a listener serves concurrent keep-alive clients on several loops and stops while they talk") {
  ListenerOptions options;
  options.threads = 2;
  ProbeServer server(options);
  REQUIRE(server.port() > 0);

  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int client = 0; client < 4; ++client) {
    clients.emplace_back([&] {
      httplib::Client http("127.0.0.1", server.port());
      http.set_keep_alive(true);
      for (int request = 0; request < 50; ++request) {
        const auto answer = http.Get("/healthz");
        if (answer && answer->status == 200 && answer->body == R"({"status":"ok"})") ++ok;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  CHECK(ok == 200);

  // Stopped with a client connected: the client sees the connection end.
  httplib::Client late("127.0.0.1", server.port());
  late.set_keep_alive(true);
  REQUIRE(late.Get("/healthz"));
  server.listener->stop();
  CHECK_FALSE(late.Get("/healthz"));
}

TEST_CASE("the pipeline answers a neutral request without any transport") {
  ManualTimerService timers;
  Services services;
  services.timers = &timers;
  Api api(ApiOptions{}, services);
  // Answers synchronously here: no service is reached on these paths.
  const auto answer = [&](RequestHead head) {
    std::optional<Response> got;
    auto call = api.admit(std::move(head), [&](Response response) { got = std::move(response); });
    if (call) api.handle(call, "");
    call.reset();
    REQUIRE(got.has_value());
    return *got;
  };
  const auto head = [](std::string method, std::string path, Listener listener = Listener::operators) {
    RequestHead made;
    made.method = std::move(method);
    made.path = std::move(path);
    made.listener = listener;
    made.remote_address = "10.0.0.1";
    return made;
  };

  CHECK(answer(head("GET", "/healthz")).status == 200);
  CHECK(answer(head("GET", "/api/v1/stats")).status == 503);  // not ready yet
  api.set_ready(0);
  const Response unauthenticated = answer(head("GET", "/api/v1/stats"));
  CHECK(unauthenticated.status == 401);
  CHECK(unauthenticated.body.find("\"UNAUTHORIZED\"") != std::string::npos);
  CHECK(answer(head("GET", "/api/v1/stats", Listener::agents)).status == 404);
  CHECK(answer(head("GET", "/healthz", Listener::agents)).status == 200);

  const Response wrong_method = answer(head("GET", "/api/v1/agents/register"));
  CHECK(wrong_method.status == 405);
  CHECK(std::find(wrong_method.headers.begin(), wrong_method.headers.end(),
                  std::pair<std::string, std::string>{"Allow", "POST"}) != wrong_method.headers.end());

  RequestHead twice = head("GET", "/api/v1/stats");
  twice.headers.add("Authorization", "Bearer a");
  twice.headers.add("authorization", "Bearer b");
  CHECK(answer(std::move(twice)).status == 400);

  RequestHead form = head("POST", "/api/v1/agents/register");
  form.has_body = true;
  form.headers.add("Content-Type", "text/plain");
  CHECK(answer(std::move(form)).status == 415);
}

TEST_CASE("a connection's last request is answered with Connection: close, and the client goes on") {
  ListenerOptions options;
  options.limits.max_requests_per_connection = 3;
  ProbeServer server(options);
  httplib::Client http("127.0.0.1", server.port());
  http.set_keep_alive(true);
  for (int request = 1; request <= 10; ++request) {
    INFO("request " << request);
    const auto answer = http.Get("/healthz");
    REQUIRE(answer);
    CHECK(answer->status == 200);
    CHECK(answer->get_header_value("Connection") == (request % 3 == 0 ? "close" : ""));
  }
}
