#include "http/opamp/opamp_server.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/gzip.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"
#include "http/call.hpp"
#include "http/opamp/opamp_codec.hpp"

namespace muster::http {
namespace {

namespace wire = ::muster::opamp;
using nlohmann::json;

enum class Transport { http, websocket };

const char* to_string(Transport transport) {
  return transport == Transport::http ? "http" : "websocket";
}

// The capabilities muster offers: status, remote config, effective config,
// connection settings (an agent token, the heartbeat interval).
constexpr std::uint64_t kServerCapabilities =
    wire::ServerCapabilities_AcceptsStatus | wire::ServerCapabilities_OffersRemoteConfig |
    wire::ServerCapabilities_AcceptsEffectiveConfig | wire::ServerCapabilities_OffersConnectionSettings;

constexpr std::string_view kRestartCommand = "restart";
// What an answer is, for the transport: HTTP picks its status from it.
enum class AnswerKind { ok, bad_request, unavailable };

struct Answer {
  AnswerKind kind = AnswerKind::ok;
  wire::ServerToAgent message;
};

// --- What is remembered of one agent ---------------------------------------------

class OpampConnection;

struct AgentConversation {
  std::mutex mutex;  ///< Guards every field below.
  std::string instance_uid;
  Transport transport = Transport::http;
  std::uint64_t last_sequence = 0;
  bool heard = false;  ///< A message of it was folded since start-up.
  std::uint64_t capabilities = 0;
  std::vector<std::string> custom_capabilities;
  std::optional<json> health;  ///< As health_to_json wrote its latest ComponentHealth.
  std::string reported_hash;  ///< Its last remote config status's hash (hex).
  std::string offered_hash;   ///< The desired hash last sent as AgentRemoteConfig.
  TimeMs offered_at_ms = 0;
  bool heartbeat_offered = false;
  std::weak_ptr<OpampConnection> connection;  ///< Its live WebSocket.
  std::string restart_command_id;        ///< A restart sent, until the agent is back.
  TimeMs restart_sent_at_ms = 0;
};
using ConversationPtr = std::shared_ptr<AgentConversation>;

// Who sent a message, as the pipeline admitted it.
struct Caller {
  std::optional<AgentId> token_agent;        ///< Set when the agent's own token came.
  std::optional<EnrollmentGrant> grant;      ///< Set when an enrollment token came.
  AgentAccess access;
  RequestContext context;
  Transport transport = Transport::http;
  /// HTTP's OpAMP-Instance-UID header (the uid as a UUID string), if sent.
  std::optional<std::string> header_uid;
};

Caller caller_of(const Call& call, Transport transport) {
  Caller caller;
  if (call.agent_token) {
    caller.token_agent = call.agent_token->agent_id;
    caller.access = call.agent_access();
  } else if (call.enrollment_grant) {
    caller.grant = call.enrollment_grant;
    caller.access.org_scope = call.enrollment_grant->org;
  }
  caller.context = call.context;
  caller.transport = transport;
  if (const auto uid = call.head.headers.find("OpAMP-Instance-UID")) caller.header_uid = std::string(*uid);
  return caller;
}

}  // namespace

struct OpampServer::Impl : std::enable_shared_from_this<OpampServer::Impl> {
  Impl(const Services& services_in, OpampOptions options_in) : services(services_in), options(options_in) {}

  /// A copy: conversations in flight may outlive the API server's own
  /// (each service they call outlives every callback it makes).
  const Services services;
  const OpampOptions options;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open_connections{0};

  mutable std::mutex mutex;
  std::unordered_map<AgentId, ConversationPtr, AgentIdHash> agents;  ///< Guarded by `mutex`.
  std::unordered_map<std::string, AgentId> by_uid;                   ///< Guarded by `mutex`.

  TimeMs now_ms() const { return services.timers->now_ms(); }

  ConversationPtr find(const AgentId& agent_id) const {
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = agents.find(agent_id);
    return found == agents.end() ? nullptr : found->second;
  }

  std::optional<AgentId> agent_of_uid(const std::string& uid) const {
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = by_uid.find(uid);
    if (found == by_uid.end()) return std::nullopt;
    return found->second;
  }

  // The agent's conversation (a new one if none), now known under `uid`.
  ConversationPtr remember(const AgentId& agent_id, const std::string& uid) {
    std::lock_guard<std::mutex> lock(mutex);
    auto& conversation = agents[agent_id];
    if (!conversation) conversation = std::make_shared<AgentConversation>();
    by_uid[uid] = agent_id;
    return conversation;
  }

  void forget_uid(const std::string& uid) {
    std::lock_guard<std::mutex> lock(mutex);
    by_uid.erase(uid);
  }

  // The commands `conversation`'s agent takes over OpAMP.
  static bool accepts(const AgentConversation& conversation, const CommandRecord& command) {
    if (command.type == kRestartCommand) {
      return (conversation.capabilities & wire::AgentCapabilities_AcceptsRestartCommand) != 0;
    }
    const std::string capability = std::string(kCommandCapabilityPrefix) + command.type;
    const auto& custom = conversation.custom_capabilities;
    return std::find(custom.begin(), custom.end(), capability) != custom.end();
  }

  static bool takes_commands(const AgentConversation& conversation) {
    if ((conversation.capabilities & wire::AgentCapabilities_AcceptsRestartCommand) != 0) return true;
    return std::any_of(conversation.custom_capabilities.begin(), conversation.custom_capabilities.end(),
                       [](const std::string& capability) {
                         return capability.rfind(kCommandCapabilityPrefix, 0) == 0;
                       });
  }

  // Puts a command the agent was just handed into `out` (one restart, one
  // custom message per ServerToAgent; false if `out` has that slot taken).
  bool put_command(wire::ServerToAgent& out, AgentConversation& conversation, const CommandRecord& command) {
    if (command.type == kRestartCommand) {
      if (out.has_command()) return false;
      out.mutable_command()->set_type(wire::CommandType_Restart);
      conversation.restart_command_id = command.command_id;
      conversation.restart_sent_at_ms = now_ms();
      return true;
    }
    if (out.has_custom_message()) return false;
    auto* message = out.mutable_custom_message();
    message->set_capability(std::string(kCommandCapabilityPrefix) + command.type);
    message->set_type(command.type);
    message->set_data(json{{"command_id", command.command_id}, {"params", command.params}}.dump());
    return true;
  }

  // Sets the desired config on `out` if the agent takes remote config and
  // runs another; `force` offers it again even if offered a moment ago.
  void put_remote_config(wire::ServerToAgent& out, const AgentId& agent_id, AgentConversation& conversation,
                         bool force) {
    if ((conversation.capabilities & wire::AgentCapabilities_AcceptsRemoteConfig) == 0) return;
    const DesiredSummary desired = services.config_model->desired_of(agent_id);
    if (!desired.desired) return;
    const std::string& hash = desired.desired->hash;
    if (hash == conversation.reported_hash) return;
    const TimeMs now = now_ms();
    if (!force && hash == conversation.offered_hash && now - conversation.offered_at_ms < options.reoffer_after_ms) {
      return;
    }
    const auto digest = sha256_from_hex(hash);
    if (!digest) return;
    auto* remote = out.mutable_remote_config();
    remote->set_config_hash(std::string(reinterpret_cast<const char*>(digest->data()), digest->size()));
    auto* files = remote->mutable_config()->mutable_config_map();
    for (const auto& [name, file] : *desired.desired->files) {
      auto& entry = (*files)[name];
      entry.set_body(file.body);
      entry.set_content_type(file.content_type);
    }
    conversation.offered_hash = hash;
    conversation.offered_at_ms = now;
  }

  void stamp(wire::ServerToAgent& out, const std::string& uid) const {
    out.set_instance_uid(uid);
    out.set_capabilities(kServerCapabilities);
  }

  Answer error_answer(AnswerKind kind, const std::string& uid, const std::string& message) const {
    Answer answer;
    answer.kind = kind;
    stamp(answer.message, uid);
    auto* error = answer.message.mutable_error_response();
    error->set_error_message(message);
    if (kind == AnswerKind::unavailable) {
      error->set_type(wire::ServerErrorResponseType_Unavailable);
      error->mutable_retry_info()->set_retry_after_nanoseconds(
          static_cast<std::uint64_t>(options.retry_after_ms) * 1'000'000);
    } else {
      error->set_type(wire::ServerErrorResponseType_BadRequest);
    }
    return answer;
  }

  Answer failure_answer(const Error& error, const std::string& uid) const {
    const bool overloaded = error.code == ErrorCode::unavailable || error.code == ErrorCode::io_error ||
                            error.code == ErrorCode::internal;
    return error_answer(overloaded ? AnswerKind::unavailable : AnswerKind::bad_request, uid,
                        overloaded ? "muster is busy; retry later" : error.message);
  }

  void on_desired_changed(const std::vector<AgentId>& changed);
  void receive(std::shared_ptr<OpampConnection> connection, Caller caller, std::string bytes,
               std::function<void(Answer)> done);
};

// --- One AgentToServer, from receipt to answer ----------------------------------

namespace {

// The steps one message takes, each after the last one's service answered.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<OpampServer::Impl> impl, std::shared_ptr<OpampConnection> connection, Caller caller,
           std::function<void(Answer)> done)
      : impl_(std::move(impl)), connection_(std::move(connection)), caller_(std::move(caller)),
        done_(std::move(done)) {}

  void run(std::string bytes);

  wire::AgentToServer in;

 private:
  void identify();
  void registered(Result<AgentOutcome> outcome, const Registration& registration);
  void converse();
  void heartbeat();
  void report_config();
  void report_effective();
  void report_command_result();
  void disconnect();
  void fetch_commands();
  void answer();
  void fail(const Error& error);
  void finish(Answer answer);
  void ask_full_state();

  AgentService& agents() const { return *impl_->services.agents; }

  std::shared_ptr<OpampServer::Impl> impl_;
  std::shared_ptr<OpampConnection> connection_;
  Caller caller_;
  std::function<void(Answer)> done_;
  std::string uid_;
  AgentId agent_id_;
  ConversationPtr conversation_;
  wire::ServerToAgent out_;
  bool full_state_ = false;     ///< Ask the agent for its full state.
  bool offer_interval_ = false;  ///< Offer the heartbeat interval.
  std::string agent_token_;     ///< A registration's new token, to offer.
};

// --- A WebSocket's conversation --------------------------------------------------

class OpampConnection : public MessageHandler, public std::enable_shared_from_this<OpampConnection> {
 public:
  OpampConnection(std::shared_ptr<OpampServer::Impl> impl, std::shared_ptr<MessageChannel> channel, Caller caller)
      : impl_(std::move(impl)), channel_(std::move(channel)), caller_(std::move(caller)) {
    ++impl_->open_connections;
  }
  ~OpampConnection() override { --impl_->open_connections; }

  void on_message(std::string message) override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) return;
    if (busy_) {
      if (queue_.size() >= impl_->options.max_queued_messages) {
        lock.unlock();
        return refuse_overloaded(message);
      }
      queue_.push_back(std::move(message));
      return;
    }
    busy_ = true;
    lock.unlock();
    process(std::move(message));
  }

  void on_close() override {
    std::shared_ptr<MessageChannel> channel;
    std::optional<AgentId> agent;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
      queue_.clear();
      channel.swap(channel_);  // The channel refers to the connection: let both go.
      agent = agent_;
    }
    if (!agent) return;
    if (const auto conversation = impl_->find(*agent)) {
      std::lock_guard<std::mutex> lock(conversation->mutex);
      if (conversation->connection.lock().get() == this) conversation->connection.reset();
    }
  }

  // Sends one ServerToAgent (0x00, then the message); false once closed.
  bool push(const wire::ServerToAgent& message) {
    std::shared_ptr<MessageChannel> channel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      channel = channel_;
    }
    if (!channel) return false;
    std::string frame(1, '\0');
    message.AppendToString(&frame);
    return channel->send(std::move(frame));
  }

  // The agent this connection speaks for, once a message named it. True the
  // first time (then the caller starts waiting for its commands).
  bool bind(const AgentId& agent_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool first = !agent_;
    agent_ = agent_id;
    return first;
  }
  // True once a message of this connection named its agent.
  bool bound() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return agent_.has_value();
  }
  bool first_message() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_ == 1;
  }
  bool closed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }
  const Caller& caller() const { return caller_; }

  // Waits for the agent's commands of the types it takes and pushes each as
  // it is delivered, while the connection lives.
  void wait_for_commands(const AgentId& agent_id, const ConversationPtr& conversation) {
    if (closed() || impl_->stopping || impl_->services.commands == nullptr) return;
    const TimeMs started = impl_->now_ms();
    impl_->services.commands->fetch(
        agent_id, impl_->options.command_wait_ms, caller_.context,
        [weak = weak_from_this(), agent_id, conversation, started](Result<std::vector<CommandRecord>> delivered) {
          const auto self = weak.lock();
          if (!self || self->closed()) return;
          if (delivered) {
            for (const CommandRecord& command : *delivered) self->push_command(agent_id, *conversation, command);
          }
          // An empty answer long before the wait's end: the service is
          // stopping or failing; do not spin on it.
          const bool early = (!delivered || delivered->empty()) &&
                             self->impl_->now_ms() - started < self->impl_->options.command_wait_ms / 2;
          if (!early) return self->wait_for_commands(agent_id, conversation);
          self->impl_->services.timers->schedule_after(1000, [weak, agent_id, conversation] {
            if (const auto again = weak.lock()) again->wait_for_commands(agent_id, conversation);
          });
        },
        [conversation](const CommandRecord& command) {
          std::lock_guard<std::mutex> lock(conversation->mutex);
          return OpampServer::Impl::accepts(*conversation, command);
        });
  }

 private:
  void push_command(const AgentId& agent_id, AgentConversation& conversation, const CommandRecord& command) {
    wire::ServerToAgent out;
    {
      std::lock_guard<std::mutex> lock(conversation.mutex);
      impl_->stamp(out, conversation.instance_uid);
      impl_->put_command(out, conversation, command);
    }
    if (!push(out)) return;  // Redelivered after its redelivery time.
    impl_->services.commands->acknowledge(agent_id, command.command_id, caller_.context,
                                          [](Result<CommandOutcome>) {});
  }

  void process(std::string message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++messages_;
    }
    // Each message is a header (a varint: 0, no other is defined) and the protobuf.
    if (message.empty() || message.front() != '\0') {
      return answer_and_continue(impl_->error_answer(
          AnswerKind::bad_request, "", "a WebSocket message must start with the header 0x00"));
    }
    message.erase(0, 1);
    impl_->receive(shared_from_this(), caller_, std::move(message),
                   [self = shared_from_this()](Answer answer) { self->answer_and_continue(std::move(answer)); });
  }

  void answer_and_continue(Answer answer) {
    push(answer.message);
    std::string next;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_ || queue_.empty()) {
        busy_ = false;
        return;
      }
      next = std::move(queue_.front());
      queue_.erase(queue_.begin());
    }
    process(std::move(next));
  }

  void refuse_overloaded(const std::string& message) {
    wire::AgentToServer in;
    std::string uid;
    if (message.size() > 1 && in.ParseFromArray(message.data() + 1, static_cast<int>(message.size() - 1))) {
      uid = in.instance_uid();
    }
    push(impl_->error_answer(AnswerKind::unavailable, uid, "too many messages at once; retry later").message);
  }

  const std::shared_ptr<OpampServer::Impl> impl_;
  mutable std::mutex mutex_;
  std::shared_ptr<MessageChannel> channel_;  ///< Reset when closed.
  const Caller caller_;
  /// Messages waiting for the one in progress (a vector: an idle connection holds no block).
  std::vector<std::string> queue_;
  bool busy_ = false;
  bool closed_ = false;
  std::size_t messages_ = 0;
  std::optional<AgentId> agent_;
};

}  // namespace

void OpampServer::Impl::receive(std::shared_ptr<OpampConnection> connection, Caller caller, std::string bytes,
                                std::function<void(Answer)> done) {
  if (stopping) return done(error_answer(AnswerKind::unavailable, "", "muster is shutting down"));
  auto exchange = std::make_shared<Exchange>(shared_from_this(), std::move(connection), std::move(caller),
                                             std::move(done));
  exchange->run(std::move(bytes));
}

void OpampServer::Impl::on_desired_changed(const std::vector<AgentId>& changed) {
  for (const AgentId& agent_id : changed) {
    const auto conversation = find(agent_id);
    if (!conversation) continue;
    std::shared_ptr<OpampConnection> connection;
    wire::ServerToAgent out;
    {
      std::lock_guard<std::mutex> lock(conversation->mutex);
      connection = conversation->connection.lock();
      if (!connection) continue;
      put_remote_config(out, agent_id, *conversation, true);
      if (!out.has_remote_config()) continue;
      stamp(out, conversation->instance_uid);
    }
    connection->push(out);
  }
}

namespace {

void Exchange::run(std::string bytes) {
  if (!in.ParseFromString(bytes)) {
    return finish(impl_->error_answer(AnswerKind::bad_request, "", "the body is not an AgentToServer message"));
  }
  uid_ = in.instance_uid();
  if (uid_.size() != kInstanceUidBytes) {
    return finish(impl_->error_answer(AnswerKind::bad_request, uid_,
                                      fmt::format("instance_uid must be {} bytes", kInstanceUidBytes)));
  }
  if (caller_.header_uid && !equals_ignoring_case(*caller_.header_uid, uuid_text(uid_))) {
    return finish(impl_->error_answer(AnswerKind::bad_request, uid_,
                                      "the OpAMP-Instance-UID header names another instance than the message"));
  }
  identify();
}

void Exchange::identify() {
  if (caller_.token_agent) {
    agent_id_ = *caller_.token_agent;
    return converse();
  }
  if (const auto known = impl_->agent_of_uid(uid_)) {
    agent_id_ = *known;
    return converse();
  }
  // An unknown uid under an enrollment token: its description says who it is.
  if (!in.has_agent_description() || !caller_.grant) return ask_full_state();
  Registration registration = registration_of(in.agent_description(), uid_);
  registration.capabilities = capability_names(in.capabilities());
  const auto instance = impl_->services.registry->find_instance(caller_.grant->org, registration.instance_id);
  if (instance && is_listed(instance->status)) {
    agent_id_ = instance->agent_id;  // Known already (muster restarted, or another uid of it).
    return converse();
  }
  impl_->services.registrations->register_agent(
      *caller_.grant, registration, caller_.context,
      [self = shared_from_this(), registration](Result<AgentOutcome> outcome) {
        self->registered(std::move(outcome), registration);
      });
}

void Exchange::registered(Result<AgentOutcome> outcome, const Registration& registration) {
  if (!outcome) return fail(outcome.error());
  agent_id_ = outcome->agent_id;
  agent_token_ = outcome->agent_token;
  log::info("opamp agent registered", {{"agent_id", agent_id_.to_string()},
                                       {"instance_id", registration.instance_id},
                                       {"request_id", caller_.context.request_id}});
  // The first answer carries the agent's desired config: the config model
  // must hold the registration first.
  impl_->services.projections->when_folded(outcome->position, [self = shared_from_this()] { self->converse(); });
}

void Exchange::ask_full_state() {
  Answer answer;
  impl_->stamp(answer.message, uid_);
  answer.message.set_flags(wire::ServerToAgentFlags_ReportFullState);
  finish(std::move(answer));
}

// Folds what the message says into the conversation, then acts on it.
void Exchange::converse() {
  conversation_ = impl_->remember(agent_id_, uid_);
  const bool full = in.has_agent_description();
  bool duplicate = false;
  bool back_after_restart = false;
  {
    std::lock_guard<std::mutex> lock(conversation_->mutex);
    AgentConversation& conversation = *conversation_;
    if (connection_) {
      // A new connection takes the agent over (its old one may be dead
      // without muster knowing yet). The connection it took over from
      // speaking again shows two live clients with one uid.
      const auto live = conversation.connection.lock();
      duplicate = live && live != connection_ && !live->closed() && connection_->bound() &&
                  conversation.instance_uid == uid_;
    }
    if (!duplicate) {
      // Lost status (a gap), or nothing known since start-up: ask for all of it.
      const bool gap = conversation.heard && in.sequence_num() != conversation.last_sequence + 1;
      full_state_ = !full && (!conversation.heard || gap);
      // The agent came back after a restart muster sent: a new connection, a
      // sequence starting again, or a later start time.
      if (!conversation.restart_command_id.empty()) {
        const bool reconnected = connection_ && connection_->first_message();
        const bool sequence_restarted = conversation.heard && in.sequence_num() <= 1;
        const bool restarted_later =
            in.has_health() && in.health().start_time_unix_nano() / 1'000'000 >
                                   static_cast<std::uint64_t>(conversation.restart_sent_at_ms);
        back_after_restart = reconnected || sequence_restarted || restarted_later;
      }
      conversation.instance_uid = uid_;
      conversation.transport = caller_.transport;
      conversation.last_sequence = in.sequence_num();
      conversation.heard = true;
      if (in.capabilities() != 0 || full) conversation.capabilities = in.capabilities();
      if (in.has_custom_capabilities()) {
        conversation.custom_capabilities.assign(in.custom_capabilities().capabilities().begin(),
                                                in.custom_capabilities().capabilities().end());
      }
      if (in.has_health()) conversation.health = health_to_json(in.health());
      if (in.has_remote_config_status()) {
        const std::string& hash = in.remote_config_status().last_remote_config_hash();
        conversation.reported_hash = hash_hex_of(hash);
      } else if (conversation.reported_hash.empty()) {
        // Nothing said since start-up: what it last reported before.
        if (const auto view = impl_->services.config_model->agent(agent_id_); view && view->report) {
          conversation.reported_hash = view->report->config_hash;
        }
      }
      if (connection_) conversation.connection = connection_;
      offer_interval_ = !conversation.heartbeat_offered &&
                        (conversation.capabilities & wire::AgentCapabilities_ReportsHeartbeat) != 0;
      conversation.heartbeat_offered = conversation.heartbeat_offered || offer_interval_;
    }
  }
  if (duplicate) {
    // Another live connection speaks as this uid (a cloned VM, a bad
    // generator): this one gets a uid of its own, and is another agent
    // (it registers when it sends its full state under the new uid).
    Answer answer;
    impl_->stamp(answer.message, uid_);
    answer.message.mutable_agent_identification()->set_new_instance_uid(new_instance_uid(impl_->now_ms()));
    answer.message.set_flags(wire::ServerToAgentFlags_ReportFullState);
    return finish(std::move(answer));
  }
  if (back_after_restart) {
    std::string command_id;
    {
      std::lock_guard<std::mutex> lock(conversation_->mutex);
      command_id.swap(conversation_->restart_command_id);
    }
    impl_->services.commands->complete(agent_id_, command_id, make_command_result(true, std::nullopt, ""),
                                       caller_.context, [](Result<CommandOutcome>) {});
  }
  if (connection_ && connection_->bind(agent_id_)) {
    bool wait = false;
    {
      std::lock_guard<std::mutex> lock(conversation_->mutex);
      wait = OpampServer::Impl::takes_commands(*conversation_);
    }
    if (wait) connection_->wait_for_commands(agent_id_, conversation_);
  }
  heartbeat();
}

void Exchange::heartbeat() {
  HeartbeatReport report;
  {
    std::lock_guard<std::mutex> lock(conversation_->mutex);
    if (conversation_->health) {
      report.status = conversation_->health->at("healthy").get<bool>() ? AgentStatus::online : AgentStatus::degraded;
    }
  }
  if (in.has_agent_description()) report.version = description_version(in.agent_description());
  agents().heartbeat(agent_id_, caller_.access, report, caller_.context,
                     [self = shared_from_this()](Result<AgentOutcome> outcome) {
                       if (!outcome) {
                         const Error& error = outcome.error();
                         // Deregistered (or never registered) under an
                         // enrollment token: registering again takes its description.
                         if (self->caller_.grant && error.reason == kAgentNotRegistered) {
                           self->impl_->forget_uid(self->uid_);
                           return self->ask_full_state();
                         }
                         return self->fail(error);
                       }
                       self->report_config();
                     });
}

void Exchange::report_config() {
  if (!in.has_remote_config_status()) return report_effective();
  const auto& status = in.remote_config_status();
  const auto parsed = report_status_of(status.status());
  if (!parsed || status.last_remote_config_hash().size() != 32) return report_effective();
  AgentConfigReported report;
  report.config_hash = hash_hex_of(status.last_remote_config_hash());
  report.status = *parsed;
  if (*parsed == ConfigReportStatus::failed) report.error = agent_error_text(status.error_message());
  const auto view = impl_->services.config_model->agent(agent_id_);
  if (view && view->report && view->report->config_hash == report.config_hash &&
      view->report->status == report.status && view->report->error == report.error) {
    return report_effective();
  }
  agents().report_config(agent_id_, caller_.access, std::move(report), caller_.context,
                         [self = shared_from_this()](Result<AgentOutcome> outcome) {
                           if (!outcome) return self->fail(outcome.error());
                           self->report_effective();
                         });
}

void Exchange::report_effective() {
  if (!in.has_effective_config()) return report_command_result();
  auto files = files_of(in.effective_config().config_map(), impl_->options.max_config_bytes);
  if (!files) return report_command_result();  // Not a file map muster can show: left out.
  AgentEffectiveConfigReported effective;
  effective.hash = hash_files(*files);
  const auto view = impl_->services.config_model->agent(agent_id_);
  if (view && view->effective_hash == effective.hash) return report_command_result();
  effective.files = std::make_shared<const ConfigFiles>(std::move(*files));
  agents().report_effective(agent_id_, caller_.access, std::move(effective), caller_.context,
                            [self = shared_from_this()](Result<AgentOutcome> outcome) {
                              if (!outcome) return self->fail(outcome.error());
                              self->report_command_result();
                            });
}

// A CustomMessage answering a command sent as one: {command_id, status,
// exit_code?, output?} with type "result" (or "ack").
void Exchange::report_command_result() {
  if (!in.has_custom_message() || impl_->services.commands == nullptr) return disconnect();
  const auto& message = in.custom_message();
  if (message.capability().rfind(kCommandCapabilityPrefix, 0) != 0) return disconnect();
  const json data = json::parse(message.data(), nullptr, false);
  const auto command_id = data.is_object() ? data.find("command_id") : data.end();
  if (!data.is_object() || command_id == data.end() || !command_id->is_string()) return disconnect();
  auto next = [self = shared_from_this()](Result<CommandOutcome>) { self->disconnect(); };
  if (message.type() == "ack") {
    return impl_->services.commands->acknowledge(agent_id_, command_id->get<std::string>(), caller_.context,
                                                 std::move(next));
  }
  if (message.type() != "result") return disconnect();
  const auto status = data.find("status");
  const bool succeeded = status != data.end() && *status == "succeeded";
  std::optional<std::int64_t> exit_code;
  if (const auto code = data.find("exit_code"); code != data.end() && code->is_number_integer()) {
    exit_code = code->get<std::int64_t>();
  }
  std::string output;
  if (const auto text = data.find("output"); text != data.end() && text->is_string()) output = text->get<std::string>();
  impl_->services.commands->complete(agent_id_, command_id->get<std::string>(),
                                     make_command_result(succeeded, exit_code, std::move(output)), caller_.context,
                                     std::move(next));
}

void Exchange::disconnect() {
  if (!in.has_agent_disconnect()) return fetch_commands();
  AgentReported report;
  report.type = std::string(kDisconnectReport);
  report.reported_at_ms = impl_->now_ms();
  report.data = json{{"transport", to_string(caller_.transport)}};
  agents().report(agent_id_, caller_.access, std::move(report), caller_.context,
                  [self = shared_from_this()](Result<AgentOutcome> outcome) {
                    if (!outcome) return self->fail(outcome.error());
                    self->answer();  // It is leaving: nothing to hand it.
                  });
}

// Over HTTP the answer carries what the agent may take of its commands (one
// restart, one custom message); a WebSocket gets them pushed as they come.
void Exchange::fetch_commands() {
  CommandService* commands = impl_->services.commands;
  if (connection_ || full_state_ || commands == nullptr || commands->pending_of(agent_id_) == 0) return answer();
  bool takes = false;
  {
    std::lock_guard<std::mutex> lock(conversation_->mutex);
    takes = OpampServer::Impl::takes_commands(*conversation_);
  }
  if (!takes) return answer();
  // One of each kind fits an answer: the predicate takes the first of each.
  auto taken = std::make_shared<std::pair<bool, bool>>(false, false);
  commands->fetch(
      agent_id_, 0, caller_.context,
      [self = shared_from_this()](Result<std::vector<CommandRecord>> delivered) {
        if (delivered) {
          {
            std::lock_guard<std::mutex> lock(self->conversation_->mutex);
            for (const CommandRecord& command : *delivered) {
              self->impl_->put_command(self->out_, *self->conversation_, command);
            }
          }
          // OpAMP has no acknowledgement: a command in an answer is taken.
          for (const CommandRecord& command : *delivered) {
            self->impl_->services.commands->acknowledge(self->agent_id_, command.command_id,
                                                        self->caller_.context, [](Result<CommandOutcome>) {});
          }
        }
        self->answer();
      },
      [conversation = conversation_, taken](const CommandRecord& command) {
        std::lock_guard<std::mutex> lock(conversation->mutex);
        if (!OpampServer::Impl::accepts(*conversation, command)) return false;
        bool& slot = command.type == kRestartCommand ? taken->first : taken->second;
        if (slot) return false;
        slot = true;
        return true;
      });
}

void Exchange::answer() {
  impl_->stamp(out_, uid_);
  std::unique_lock<std::mutex> lock(conversation_->mutex);
  AgentConversation& conversation = *conversation_;
  if (full_state_) {
    out_.set_flags(out_.flags() | wire::ServerToAgentFlags_ReportFullState);
  } else {
    impl_->put_remote_config(out_, agent_id_, conversation, false);
  }
  if ((in.flags() & wire::AgentToServerFlags_RequestInstanceUid) != 0) {
    const std::string uid = new_instance_uid(impl_->now_ms());
    out_.mutable_agent_identification()->set_new_instance_uid(uid);
    impl_->remember(agent_id_, uid);  // The same agent under its new uid.
  }
  const bool offer_token = !agent_token_.empty() &&
                           (conversation.capabilities & wire::AgentCapabilities_AcceptsOpAMPConnectionSettings) != 0;
  if (offer_token || offer_interval_) {
    auto* settings = out_.mutable_connection_settings()->mutable_opamp();
    if (offer_token) {
      auto* header = settings->mutable_headers()->add_headers();
      header->set_key("Authorization");
      header->set_value("Bearer " + agent_token_);
    }
    if (offer_interval_) {
      settings->set_heartbeat_interval_seconds(
          static_cast<std::uint64_t>(std::max<TimeMs>(impl_->options.heartbeat_interval_ms / 1000, 1)));
    }
    // The offer's hash names its content (the agent compares it); a digest,
    // not the token.
    const Sha256 digest = sha256(settings->SerializeAsString());
    out_.mutable_connection_settings()->set_hash(std::string(reinterpret_cast<const char*>(digest.data()), 8));
  }
  lock.unlock();  // The answer may start the connection's next message.
  Answer answer;
  answer.message = std::move(out_);
  done_(std::move(answer));
}

void Exchange::fail(const Error& error) {
  if (error.code == ErrorCode::unavailable || error.code == ErrorCode::io_error) {
    log::warn("opamp message not served", {{"agent_id", agent_id_.to_string()},
                                           {"error", error.message},
                                           {"request_id", caller_.context.request_id}});
  }
  finish(impl_->failure_answer(error, uid_));
}

void Exchange::finish(Answer answer) {
  done_(std::move(answer));
}

}  // namespace

// --- The server ----------------------------------------------------------------

OpampServer::OpampServer(const Services& services, OpampOptions options)
    : impl_(std::make_shared<Impl>(services, options)) {}

OpampServer::~OpampServer() {
  stop();
}

void OpampServer::start() {
  impl_->stopping = false;
  if (impl_->services.config_model == nullptr) return;
  const_cast<ConfigModel*>(impl_->services.config_model)
      ->set_on_desired_changed([weak = std::weak_ptr<Impl>(impl_)](const std::vector<AgentId>& changed) {
        if (const auto impl = weak.lock()) impl->on_desired_changed(changed);
      });
}

void OpampServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->services.config_model != nullptr) {
    const_cast<ConfigModel*>(impl_->services.config_model)->set_on_desired_changed(nullptr);
  }
}

void OpampServer::handle_http(const std::shared_ptr<Call>& call, std::string message, bool gzip_answer) {
  const TimeMs retry_after_ms = impl_->options.retry_after_ms;
  impl_->receive(nullptr, caller_of(*call, Transport::http), std::move(message),
                 [call, retry_after_ms, gzip_answer](Answer answer) {
    Response response;
    response.content_type = "application/x-protobuf";
    response.body = answer.message.SerializeAsString();
    if (gzip_answer) {
      response.body = gzip_compress(response.body);
      response.headers.emplace_back("Content-Encoding", "gzip");
    }
    switch (answer.kind) {
      case AnswerKind::ok: response.status = 200; break;
      case AnswerKind::bad_request: response.status = 400; break;
      case AnswerKind::unavailable:
        response.status = 503;
        response.headers.emplace_back("Retry-After",
                                      std::to_string(std::max<TimeMs>(retry_after_ms / 1000, 1)));
        break;
    }
    call->reply(std::move(response));
  });
}

std::shared_ptr<MessageHandler> OpampServer::open_websocket(const std::shared_ptr<Call>& call,
                                                            std::shared_ptr<MessageChannel> channel) {
  return std::make_shared<OpampConnection>(impl_, std::move(channel), caller_of(*call, Transport::websocket));
}

std::optional<json> OpampServer::describe(const AgentId& agent_id) const {
  const auto conversation = impl_->find(agent_id);
  if (!conversation) return std::nullopt;
  std::lock_guard<std::mutex> lock(conversation->mutex);
  json out{{"transport", to_string(conversation->transport)},
           {"capabilities", capability_names(conversation->capabilities)},
           {"custom_capabilities", conversation->custom_capabilities},
           {"sequence_num", conversation->last_sequence},
           {"health", conversation->health ? *conversation->health : json(nullptr)}};
  if (conversation->transport == Transport::websocket) {
    const auto live = conversation->connection.lock();
    out["connected"] = live && !live->closed();
  }
  // What it says it runs, as its EffectiveConfig carried it.
  const auto view = impl_->services.config_model->agent(agent_id);
  out["effective_config"] = view && view->effective_files
                                ? json{{"files_hash", view->effective_hash},
                                       {"files", files_to_json(*view->effective_files)}}
                                : json(nullptr);
  return out;
}

std::size_t OpampServer::connections() const {
  return impl_->open_connections;
}

}  // namespace muster::http
