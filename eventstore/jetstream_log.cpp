#include "eventstore/jetstream_log.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace muster {
namespace {

constexpr const char* kFirstPositionHeader = "Muster-First-Position";
constexpr const char* kLastPositionHeader = "Muster-Last-Position";
// Room for the batch's envelope and headers inside the server's max payload.
constexpr std::size_t kEnvelopeBytes = 1024;

bool is_subject_token(const std::string& token) {
  return !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

/// Frees what nats.c hands out, at scope exit.
template <class T, void (*Destroy)(T*)>
struct Owned {
  T* value = nullptr;
  ~Owned() {
    if (value != nullptr) Destroy(value);
  }
};
using OwnedMsg = Owned<natsMsg, natsMsg_Destroy>;
using OwnedStreamInfo = Owned<jsStreamInfo, jsStreamInfo_Destroy>;
using OwnedPubAck = Owned<jsPubAck, jsPubAck_Destroy>;

std::uint64_t header_u64(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) return 0;
  return std::strtoull(value, nullptr, 10);
}

std::string random_process_id() {
  std::random_device device;
  return fmt::format("{:08x}", device());
}

/// `unavailable`, or `io_error` for a write, naming the URL and what failed.
Error nats_failure(const NatsConnection& connection, ErrorCode code, std::string_view what, natsStatus status,
                   jsErrCode js_error) {
  std::string text = nats_error_text(status);
  if (status == NATS_NO_RESPONDERS) text += " (no JetStream leader answers: is JetStream on and a quorum up?)";
  if (js_error != 0) text += fmt::format(" [JetStream error {}]", static_cast<int>(js_error));
  return make_error(code, fmt::format("{} at NATS {}: {}", what, connection.display_url(), text),
                    code == ErrorCode::io_error ? "STORAGE_UNAVAILABLE" : "");
}

}  // namespace

/// One message of the stream, its range read from its headers.
struct JetStreamLog::Batch {
  std::uint64_t first_position = 0;
  std::uint64_t last_position = 0;
  std::string payload;
};

Result<std::shared_ptr<JetStreamLog>> JetStreamLog::open(std::shared_ptr<NatsConnection> connection,
                                                         JetStreamLogOptions options) {
  if (!is_subject_token(options.node_id)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("node id {:?}: use letters, digits, '-' and '_' (it names a NATS subject)",
                                  options.node_id));
  }
  if (!is_subject_token(options.stream) || !is_subject_token(options.subject_prefix)) {
    return make_error(ErrorCode::invalid_argument, "the stream name and subject prefix must be subject tokens");
  }
  const std::string subjects = options.subject_prefix + ".log.>";
  OwnedStreamInfo info;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info.value, connection->jetstream(), options.stream.c_str(), nullptr, &js_error);
  if (status == NATS_NOT_FOUND || js_error == JSStreamNotFoundErr) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = options.stream.c_str();
    const char* subject_list[] = {subjects.c_str()};
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = options.replicas;
    // The log is append-only: nobody, muster included, may take events out of it.
    config.DenyDelete = true;
    config.DenyPurge = true;
    js_error = static_cast<jsErrCode>(0);
    status = js_AddStream(&info.value, connection->jetstream(), &config, nullptr, &js_error);
    if (status != NATS_OK) {
      if (js_error == JSStreamReplicasNotSupportedErr || js_error == JSInsufficientResourcesErr ||
          js_error == JSClusterNoPeersErr) {
        return make_error(ErrorCode::invalid_argument,
                          fmt::format("cannot create stream {} with {} replicas at NATS {}: {}", options.stream,
                                      options.replicas, connection->display_url(), nats_error_text(status)));
      }
      return nats_failure(*connection, ErrorCode::unavailable, fmt::format("cannot create stream {}", options.stream),
                          status, js_error);
    }
    log::info("created the event stream", {{"stream", options.stream}, {"replicas", options.replicas}});
  } else if (status != NATS_OK) {
    return nats_failure(*connection, ErrorCode::unavailable, fmt::format("cannot read stream {}", options.stream),
                        status, js_error);
  }
  const jsStreamConfig& config = *info.value->Config;
  const bool same_subjects = config.SubjectsLen == 1 && subjects == config.Subjects[0];
  if (config.Replicas != options.replicas || !same_subjects) {
    std::vector<std::string> existing(config.Subjects, config.Subjects + config.SubjectsLen);
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("stream {} at NATS {} has {} replica(s) and subjects {}, but this node asks for {} "
                                  "and [{}]: give every node the same --nats-replicas, or use another --nats-stream",
                                  options.stream, connection->display_url(), config.Replicas,
                                  fmt::join(existing, ", "), options.replicas, subjects));
  }
  const auto max_payload = static_cast<std::size_t>(natsConnection_GetMaxPayload(connection->connection()));
  auto opened = std::shared_ptr<JetStreamLog>(
      new JetStreamLog(std::move(connection), std::move(options), max_payload - kEnvelopeBytes));
  if (Status subscribed = opened->subscribe(); !subscribed) return subscribed.error();
  return opened;
}

JetStreamLog::JetStreamLog(std::shared_ptr<NatsConnection> connection, JetStreamLogOptions options,
                           std::size_t max_bytes)
    : connection_(std::move(connection)),
      options_(std::move(options)),
      subject_(fmt::format("{}.log.{}", options_.subject_prefix, options_.node_id)),
      max_bytes_(max_bytes),
      process_id_(random_process_id()) {}

JetStreamLog::~JetStreamLog() {
  stop();
}

namespace {

/// Told by nats.c once a subscription's last callback has returned.
struct SubscriptionEnd {
  std::mutex mutex;
  std::condition_variable ended_cv;
  bool ended = false;
};

void on_log_message(natsConnection* /*connection*/, natsSubscription* /*subscription*/, natsMsg* msg,
                    void* closure);

}  // namespace

Status JetStreamLog::subscribe() {
  std::lock_guard wake_lock(wake_mutex_);
  const std::string subjects = options_.subject_prefix + ".log.>";
  natsStatus status =
      natsConnection_Subscribe(&subscription_, connection_->connection(), subjects.c_str(), on_log_message, this);
  if (status != NATS_OK) {
    return nats_failure(*connection_, ErrorCode::unavailable, "cannot subscribe to the event stream", status,
                        static_cast<jsErrCode>(0));
  }
  return Status::success();
}

namespace {

void on_log_message(natsConnection* /*connection*/, natsSubscription* /*subscription*/, natsMsg* msg,
                    void* closure) {
  auto* log = static_cast<JetStreamLog*>(closure);
  const std::string subject = natsMsg_GetSubject(msg);
  natsMsg_Destroy(msg);
  log->note_message(subject);
}

void on_subscription_end(void* closure) {
  auto* end = static_cast<SubscriptionEnd*>(closure);
  std::lock_guard end_lock(end->mutex);
  end->ended = true;
  end->ended_cv.notify_all();
}

}  // namespace

void JetStreamLog::note_message(const std::string& subject) {
  // Our own batches are in the replica already.
  if (subject == subject_) return;
  std::lock_guard wake_lock(wake_mutex_);
  if (wake_) wake_();
}

void JetStreamLog::wake_writer() {
  std::lock_guard wake_lock(wake_mutex_);
  if (wake_) wake_();
}

void JetStreamLog::on_foreign_write(std::function<void()> wake) {
  std::lock_guard wake_lock(wake_mutex_);
  wake_ = std::move(wake);
}

void JetStreamLog::stop() {
  natsSubscription* subscription = nullptr;
  {
    std::lock_guard wake_lock(wake_mutex_);
    wake_ = nullptr;
    subscription = std::exchange(subscription_, nullptr);
  }
  if (subscription == nullptr) return;
  // Outside the lock: a callback running meanwhile takes it.
  SubscriptionEnd end;
  const bool told = natsSubscription_SetOnCompleteCB(subscription, on_subscription_end, &end) == NATS_OK &&
                    natsSubscription_Unsubscribe(subscription) == NATS_OK;
  if (told) {
    std::unique_lock end_lock(end.mutex);
    end.ended_cv.wait_for(end_lock, std::chrono::seconds(10), [&] { return end.ended; });
  }
  natsSubscription_Destroy(subscription);
}

Status JetStreamLog::add(const std::vector<Event>& events) {
  std::string added;
  try {
    for (const Event& event : events) {
      nlohmann::ordered_json json = {{"position", event.position},  {"stream", event.stream},
                                     {"version", event.version},    {"type", event.type},
                                     {"time_ms", event.time_ms},    {"schema_version", event.schema_version},
                                     {"data", event.data},          {"meta", event.meta}};
      if (!added.empty()) added += ',';
      added += json.dump();
    }
  } catch (const nlohmann::json::exception& invalid) {
    return make_error(ErrorCode::invalid_argument, fmt::format("an event is not valid UTF-8: {}", invalid.what()));
  }
  if (events_json_.size() + added.size() + 1 > max_bytes_) {
    if (events_json_.empty()) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("event too large: {} bytes, NATS takes messages of {} at most", added.size(),
                                    max_bytes_));
    }
    return make_error(ErrorCode::unavailable, "the batch is full", kBatchFullReason);
  }
  if (events_json_.empty()) {
    first_position_ = events.front().position;
  } else {
    events_json_ += ',';
  }
  events_json_ += added;
  last_position_ = events.back().position;
  return Status::success();
}

void JetStreamLog::discard() {
  events_json_.clear();
  first_position_ = last_position_ = 0;
}

Status JetStreamLog::publish() {
  struct Clear {
    JetStreamLog& log;
    ~Clear() { log.discard(); }
  } clear{*this};
  if (options_.may_publish && !options_.may_publish()) {
    return make_error(ErrorCode::io_error,
                      "this node does not hold the cluster's lease: it writes nothing until it leads again");
  }
  if (!located_ || located_head_ + 1 != first_position_) {
    if (Status located = locate(first_position_ - 1); !located) return located;
  }
  const std::string batch_id = fmt::format("{}-{}-{}", options_.node_id, process_id_, ++batches_);
  const std::string payload =
      fmt::format(R"({{"node":"{}","batch":"{}","first_position":{},"last_position":{},"events":[{}]}})",
                  options_.node_id, batch_id, first_position_, last_position_, events_json_);
  OwnedMsg msg;
  natsStatus status = natsMsg_Create(&msg.value, subject_.c_str(), nullptr, payload.data(),
                                     static_cast<int>(payload.size()));
  const std::string expected = std::to_string(located_sequence_);
  const std::string first = std::to_string(first_position_);
  const std::string last = std::to_string(last_position_);
  // Set by hand: nats.c leaves out an expected last sequence of 0, which is
  // what the first batch of an empty stream must expect.
  if (status == NATS_OK) status = natsMsgHeader_Set(msg.value, "Nats-Expected-Last-Sequence", expected.c_str());
  if (status == NATS_OK) status = natsMsgHeader_Set(msg.value, "Nats-Msg-Id", batch_id.c_str());
  if (status == NATS_OK) status = natsMsgHeader_Set(msg.value, kFirstPositionHeader, first.c_str());
  if (status == NATS_OK) status = natsMsgHeader_Set(msg.value, kLastPositionHeader, last.c_str());
  if (status != NATS_OK) {
    return make_error(ErrorCode::internal, fmt::format("cannot build a NATS message: {}", nats_error_text(status)));
  }
  // Disconnected, nats.c would buffer the message until it reconnects (or
  // the wait runs out): refuse at once instead, stored nowhere.
  if (natsConnection_Status(connection_->connection()) != NATS_CONN_STATUS_CONNECTED) {
    Status refused = nats_failure(*connection_, ErrorCode::io_error, "the event stream is out of reach",
                                  NATS_CONNECTION_DISCONNECTED, static_cast<jsErrCode>(0));
    note_health(refused);
    return refused;
  }
  jsPubOptions publish_options;
  jsPubOptions_Init(&publish_options);
  publish_options.MaxWait = connection_->options().request_timeout.count();
  OwnedPubAck ack;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  status = js_PublishMsg(&ack.value, connection_->jetstream(), msg.value, &publish_options, &js_error);
  Status outcome = Status::success();
  if (status == NATS_OK) {
    located_sequence_ = ack.value->Sequence;
    located_head_ = last_position_;
  } else if (js_error == JSStreamWrongLastSequenceErr) {
    outcome = make_error(ErrorCode::conflict, "another node wrote to the log first", kLogMovedReason);
  } else {
    outcome = resolve_unanswered(batch_id, nats_failure(*connection_, ErrorCode::io_error,
                                                        "the event stream did not store a write", status, js_error));
  }
  note_health(outcome);
  return outcome;
}

Status JetStreamLog::resolve_unanswered(const std::string& batch_id, const Error& failure) {
  if (natsConnection_Status(connection_->connection()) != NATS_CONN_STATUS_CONNECTED) return failure;
  auto next = read_batch(located_sequence_ + 1);
  if (!next || !*next) return failure;
  if ((*next)->payload.find(fmt::format(R"("batch":"{}")", batch_id)) == std::string::npos) {
    return make_error(ErrorCode::conflict, "another node wrote to the log first", kLogMovedReason);
  }
  // Stored after all: the answer was what got lost.
  located_sequence_ += 1;
  located_head_ = (*next)->last_position;
  return Status::success();
}

void JetStreamLog::note_health(const Status& status) {
  if (status.ok() || status.error().reason == kLogMovedReason) {
    if (!healthy_) log::info("the event stream answers again", {{"nats", connection_->display_url()}});
    healthy_ = true;
  } else if (healthy_) {
    healthy_ = false;
    log::warn("the event stream fails; writes answer 503 until it is back", {{"error", status.error().message}});
  }
}

Result<std::optional<JetStreamLog::Batch>> JetStreamLog::read_batch(std::uint64_t sequence) const {
  if (natsConnection_Status(connection_->connection()) != NATS_CONN_STATUS_CONNECTED) {
    return nats_failure(*connection_, ErrorCode::io_error, "the event stream is out of reach",
                        NATS_CONNECTION_DISCONNECTED, static_cast<jsErrCode>(0));
  }
  OwnedMsg msg;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_GetMsg(&msg.value, connection_->jetstream(), options_.stream.c_str(), sequence, nullptr, &js_error);
  if (status == NATS_NOT_FOUND || js_error == JSNoMessageFoundErr) return std::optional<Batch>();
  if (status != NATS_OK) {
    return nats_failure(*connection_, ErrorCode::io_error, "cannot read the event stream", status, js_error);
  }
  Batch batch;
  batch.first_position = header_u64(msg.value, kFirstPositionHeader);
  batch.last_position = header_u64(msg.value, kLastPositionHeader);
  if (batch.first_position == 0 || batch.last_position < batch.first_position) {
    return make_error(ErrorCode::corruption,
                      fmt::format("message {} of stream {} is not a muster batch (no position headers)", sequence,
                                  options_.stream));
  }
  batch.payload.assign(natsMsg_GetData(msg.value), static_cast<std::size_t>(natsMsg_GetDataLength(msg.value)));
  return std::optional<Batch>(std::move(batch));
}

Result<JetStreamLog::StreamState> JetStreamLog::stream_state(ErrorCode failure) const {
  OwnedStreamInfo info;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_GetStreamInfo(&info.value, connection_->jetstream(), options_.stream.c_str(), nullptr, &js_error);
  if (status != NATS_OK) return nats_failure(*connection_, failure, "cannot read the event stream", status, js_error);
  return StreamState{info.value->State.FirstSeq, info.value->State.LastSeq, info.value->Created};
}

Result<JetStreamTail> JetStreamLog::tail() const {
  auto state = stream_state(ErrorCode::unavailable);
  if (!state) return state.error();
  JetStreamTail tail{state->last_sequence, 0, state->created_ns};
  if (tail.last_sequence == 0) return tail;
  auto last = read_batch(tail.last_sequence);
  if (!last) return last.error();
  if (*last) tail.last_position = (*last)->last_position;
  return tail;
}

Status JetStreamLog::locate(std::uint64_t head_position) {
  located_ = false;
  auto state = stream_state(ErrorCode::io_error);
  if (!state) return state.error();
  const std::uint64_t first_sequence = state->first_sequence;
  const std::uint64_t last_sequence = state->last_sequence;
  const auto follows_another = [&] {
    return make_error(ErrorCode::corruption,
                      fmt::format("this node's replica ends at position {}, which stream {} at NATS {} does not "
                                  "end a batch at: the replica follows another stream",
                                  head_position, options_.stream, connection_->display_url()));
  };
  if (head_position == 0) {
    if (last_sequence != 0) {
      auto first = read_batch(first_sequence);
      if (!first) return first.error();
      if (*first && (*first)->first_position != 1) {
        return make_error(ErrorCode::corruption,
                          fmt::format("stream {} no longer holds the log's start (its first batch starts at "
                                      "position {}): a node cannot be built from it",
                                      options_.stream, (*first)->first_position));
      }
    }
    located_sequence_ = last_sequence == 0 ? 0 : first_sequence - 1;
    located_head_ = 0;
    located_ = true;
    return Status::success();
  }
  // Batches' positions grow with their sequences: search for the one ending at the head.
  std::uint64_t low = first_sequence;
  std::uint64_t high = last_sequence;
  while (last_sequence != 0 && low <= high) {
    const std::uint64_t middle = low + (high - low) / 2;
    auto batch = read_batch(middle);
    if (!batch) return batch.error();
    if (!*batch) return follows_another();
    if ((*batch)->last_position < head_position) {
      low = middle + 1;
    } else if ((*batch)->first_position > head_position) {
      if (middle == 0) break;
      high = middle - 1;
    } else if ((*batch)->last_position == head_position) {
      located_sequence_ = middle;
      located_head_ = head_position;
      located_ = true;
      return Status::success();
    } else {
      break;
    }
  }
  return follows_another();
}

Result<std::vector<Event>> JetStreamLog::fetch_after(std::uint64_t head_position, std::size_t max_events) {
  std::vector<Event> events;
  if (!located_ || located_head_ != head_position) {
    if (Status located = locate(head_position); !located) {
      note_health(located);
      return located.error();
    }
  }
  while (events.size() < max_events) {
    auto batch = read_batch(located_sequence_ + 1);
    if (!batch) {
      note_health(batch.error());
      return batch.error();
    }
    if (!*batch) break;
    if ((*batch)->first_position != located_head_ + 1) {
      return make_error(ErrorCode::corruption,
                        fmt::format("message {} of stream {} starts at position {}, after {}", located_sequence_ + 1,
                                    options_.stream, (*batch)->first_position, located_head_));
    }
    try {
      const auto json = nlohmann::json::parse((*batch)->payload);
      for (const auto& item : json.at("events")) {
        events.push_back(Event{item.at("position").get<std::uint64_t>(), item.at("stream").get<std::string>(),
                               item.at("version").get<std::uint64_t>(), item.at("type").get<std::string>(),
                               item.at("time_ms").get<TimeMs>(), item.at("schema_version").get<std::uint32_t>(),
                               item.at("data").get<std::string>(), item.at("meta").get<std::string>()});
      }
    } catch (const nlohmann::json::exception& bad) {
      return make_error(ErrorCode::corruption, fmt::format("message {} of stream {} cannot be read: {}",
                                                           located_sequence_ + 1, options_.stream, bad.what()));
    }
    located_sequence_ += 1;
    located_head_ = (*batch)->last_position;
  }
  note_health(Status::success());
  return events;
}

}  // namespace muster
