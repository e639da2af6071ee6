// /_test/...: routes for end-to-end tests, added only with --enable-test-hooks.

#include <atomic>
#include <cstdlib>

#include "common/log.hpp"
#include "http/api.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

void crash_agent(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  if (!call->require_agent_id(agent_id)) return;
  call->services.crash_injector->arm(agent_id.to_string());
  call->reply_json(200, {{"armed", agent_id.to_string()}});
}

// {"ms": N}: moves the manual clock N ms forward and wakes the timer thread,
// which runs what fell due (it re-reads the clock only once a second otherwise).
void advance_clock(const std::shared_ptr<Call>& call) {
  ManualClock* clock = call->services.test_clock;
  if (clock == nullptr) {
    return call->reply_error(409, "the server's clock is real: start it with --test-manual-clock",
                             "CLOCK_NOT_MANUAL");
  }
  nlohmann::json body;
  if (!call->parse_body(false, body)) return;
  const auto ms = body.find("ms");
  if (ms == body.end() || !ms->is_number_integer() || ms->get<std::int64_t>() < 0) {
    return call->reply_failure(invalid_field("ms", "must be a non-negative integer of milliseconds"));
  }
  clock->advance_ms(ms->get<std::int64_t>());
  call->services.timers->schedule_at(0, [] {});
  call->reply_json(200, {{"now_ms", clock->now_ms()}});
}

// GET /_test/websocket/echo (WebSocket only): each message comes back as
// it was, except
//   "close:<code>"          closes with that code;
//   "push:<n>"              sends "pushed <i>" n times from the timer thread
//                           (another thread than the connection's);
//   "flood:<n>:<bytes>"     sends n messages of `bytes` bytes from the timer
//                           thread, as fast as the channel takes them, and
//                           logs how many it took ("test websocket flood");
//   "stats"                 answers "opened <o> closed <c>" (connections of
//                           this route since the server started).
// Each connection's end is logged ("test websocket closed").
std::atomic<std::uint64_t> echo_opened{0};
std::atomic<std::uint64_t> echo_closed{0};

class EchoHandler final : public MessageHandler {
 public:
  EchoHandler(std::shared_ptr<MessageChannel> channel, TimerService& timers)
      : channel_(std::move(channel)), timers_(timers) {}

  void on_message(std::string message) override {
    if (channel_ == nullptr) return;
    const std::string_view text = message;
    if (text.rfind("close:", 0) == 0) {
      const int code = std::atoi(message.c_str() + 6);
      return channel_->close(static_cast<CloseCode>(code), "asked to close");
    }
    if (text.rfind("push:", 0) == 0) {
      const int count = std::atoi(message.c_str() + 5);
      timers_.schedule_at(0, [channel = channel_, count] {
        for (int index = 0; index < count; ++index) channel->send("pushed " + std::to_string(index));
      });
      return;
    }
    if (text.rfind("flood:", 0) == 0) {
      const int count = std::atoi(message.c_str() + 6);
      const auto colon = text.find(':', 6);
      const std::size_t bytes =
          colon == std::string_view::npos ? 1 : std::strtoull(message.c_str() + colon + 1, nullptr, 10);
      timers_.schedule_at(0, [channel = channel_, count, bytes] {
        int accepted = 0;
        while (accepted < count && channel->send(std::string(std::min<std::size_t>(bytes, 16 << 20), 'f'))) {
          ++accepted;
        }
        log::info("test websocket flood", {{"accepted", accepted}});
      });
      return;
    }
    if (text == "stats") {
      channel_->send("opened " + std::to_string(echo_opened.load()) + " closed " +
                     std::to_string(echo_closed.load()));
      return;
    }
    channel_->send(std::move(message));
  }

  void on_close() override {
    ++echo_closed;
    log::info("test websocket closed", {{"source", channel_->remote_address()}});
    channel_.reset();
  }

 private:
  std::shared_ptr<MessageChannel> channel_;
  TimerService& timers_;
};

void not_websocket(const std::shared_ptr<Call>& call) {
  call->reply_error(400, "this route speaks WebSocket only", "WEBSOCKET_REQUIRED");
}

std::shared_ptr<MessageHandler> open_echo(const std::shared_ptr<Call>& call,
                                          std::shared_ptr<MessageChannel> channel) {
  ++echo_opened;
  return std::make_shared<EchoHandler>(std::move(channel), *call->services.timers);
}

const char* credential_name(Credential credential) {
  switch (credential) {
    case Credential::none: return "none";
    case Credential::api_key: return "api_key";
    case Credential::sign_in: return "sign_in";
    case Credential::agent_token: return "agent_token";
    case Credential::agent_or_api_key: return "agent_or_api_key";
    case Credential::enrollment_token: return "enrollment_token";
    case Credential::opamp_agent: return "opamp_agent";
  }
  return "none";
}

// Every route of the table as served, with what it takes: the OpenAPI
// completeness test compares it with the document (tests/e2e/openapi.test.cpp).
void list_routes(const std::shared_ptr<Call>& call) {
  nlohmann::json routes = nlohmann::json::array();
  const RouteTable& table = call->api->routes();
  for (std::size_t index = 0; index < table.size(); ++index) {
    const Route& route = table.handler(index);
    routes.push_back({{"method", table.method(index)},
                      {"pattern", table.pattern(index)},
                      {"credential", credential_name(route.credential)},
                      {"role", to_string(route.role)},
                      {"for_agents", route.for_agents},
                      {"takes_body", route.takes_body}});
  }
  call->reply_json(200, {{"routes", std::move(routes)}});
}

}  // namespace

void add_test_hooks(RouteTable& table) {
  Route echo{not_websocket, Credential::api_key, Role::admin, true};
  echo.upgrade = open_echo;
  table.add("GET", "/_test/websocket/echo", echo);
  table.add("POST", "/_test/agents/{agent_id}/crash", {crash_agent, Credential::api_key, Role::admin});
  table.add("POST", "/_test/clock/advance", {advance_clock, Credential::api_key, Role::admin, false, true});
  table.add("GET", "/_test/routes", {list_routes, Credential::api_key, Role::admin});
}

}  // namespace muster::http::routes
