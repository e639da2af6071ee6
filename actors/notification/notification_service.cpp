#include "actors/notification/notification_service.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "actors/notification/channel_decider.hpp"
#include "actors/notification/channel_secrets.hpp"
#include "actors/notification/maintenance_window_decider.hpp"
#include "actors/notification/notification_decider.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxUrlLength = 2048;
constexpr std::size_t kMaxHeaders = 32;
constexpr std::size_t kMaxRecipients = 100;
constexpr std::size_t kMaxSecretLength = 4096;
/// After the store refused to record an attempt, the line tries again this much later.
constexpr TimeMs kRecordRetryMs = 1'000;

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

bool equals_lowercase(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t index = 0; index < text.size(); ++index) {
    if (std::tolower(static_cast<unsigned char>(text[index])) != lower[index]) return false;
  }
  return true;
}

// "scheme://host..." with one of `schemes` and a non-empty host.
bool is_url_of(std::string_view url, std::initializer_list<std::string_view> schemes) {
  for (const std::string_view scheme : schemes) {
    const std::string prefix = std::string(scheme) + "://";
    if (url.size() > prefix.size() && url.size() <= kMaxUrlLength && starts_with(url, prefix) &&
        !has_control(url) && url.find(' ') == std::string_view::npos) {
      const std::string_view rest = url.substr(prefix.size());
      return !rest.empty() && rest[0] != '/' && rest[0] != ':' && rest[0] != '?';
    }
  }
  return false;
}

bool is_token(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool is_address(std::string_view address) {
  const auto at = address.find('@');
  return !address.empty() && address.size() <= 254 && at != std::string_view::npos && at > 0 &&
         at + 1 < address.size() && !has_control(address) &&
         address.find_first_of("<>, \"") == std::string_view::npos;
}

// "scheme://host[:port]" of `url`, "/***" standing for anything after it;
// without userinfo.
std::string redacted_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "***";
  const std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string out = std::string(url.substr(0, scheme_end + 3)) + std::string(authority);
  const std::string_view tail = rest.substr(std::min(rest.size(), rest.find_first_of("/?#")));
  if (!tail.empty() && tail != "/") out += "/***";
  return out;
}

Status validate(const ChannelRequest& request) {
  const ChannelSettings& settings = request.settings;
  if (settings.name.empty() || settings.name.size() > kMaxNameLength || has_control(settings.name)) {
    return invalid_field("name",
                         fmt::format("must be 1 to {} characters, no control characters", kMaxNameLength));
  }
  if (request.secret.secret.size() > kMaxSecretLength) {
    return invalid_field("secret", fmt::format("must be at most {} bytes", kMaxSecretLength));
  }
  if (settings.type == ChannelType::webhook) {
    if (!is_url_of(settings.url, {"http", "https"})) {
      return invalid_field("url", "must be an http:// or https:// URL with a host");
    }
    if (request.secret.headers.size() > kMaxHeaders) {
      return invalid_field("headers", fmt::format("at most {} headers", kMaxHeaders));
    }
    for (const auto& header : request.secret.headers) {
      const std::string& header_name = header.first;
      if (!is_token(header_name) || has_control(header.second) || header.second.size() > kMaxSecretLength) {
        return invalid_field("headers", "names must be HTTP tokens, values without control characters");
      }
      for (const std::string_view reserved : {"content-type", "content-length", "host", "transfer-encoding",
                                              "x-muster-signature", "x-muster-notification-id", "expect"}) {
        if (equals_lowercase(header_name, reserved)) {
          return invalid_field("headers", fmt::format("{} is set by muster", header_name));
        }
      }
    }
    return Status::success();
  }
  if (settings.to.empty() || settings.to.size() > kMaxRecipients) {
    return invalid_field("to", fmt::format("must list 1 to {} addresses", kMaxRecipients));
  }
  for (const std::string& address : settings.to) {
    if (!is_address(address)) return invalid_field("to", "must be email addresses (name@domain)");
  }
  if (!is_address(settings.from)) return invalid_field("from", "must be an email address (name@domain)");
  if (!is_url_of(settings.smtp_url, {"smtp", "smtps"})) {
    return invalid_field("smtp.url", "must be an smtp:// or smtps:// URL with a host");
  }
  if (settings.smtp_username.size() > kMaxNameLength || has_control(settings.smtp_username)) {
    return invalid_field("smtp.username", fmt::format("must be at most {} characters", kMaxNameLength));
  }
  if (request.secret.smtp_password.size() > kMaxSecretLength) {
    return invalid_field("smtp.password", fmt::format("must be at most {} bytes", kMaxSecretLength));
  }
  return Status::success();
}

// A few threads running blocking sends.
class SenderPool {
 public:
  void start(std::size_t count) {
    for (std::size_t index = 0; index < std::max<std::size_t>(count, 1); ++index) {
      threads_.emplace_back([this] { run(); });
    }
  }
  // False once stopped (the job is dropped).
  bool submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return false;
      jobs_.push_back(std::move(job));
    }
    wakeup_.notify_one();
    return true;
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      jobs_.clear();
    }
    wakeup_.notify_all();
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    threads_.clear();
  }
  std::size_t busy() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return jobs_.size() + running_;
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wakeup_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        ++running_;
      }
      job();
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<std::function<void()>> jobs_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// One channel's notifications, oldest first; the head is the one in flight or waiting.
struct Line {
  std::deque<std::string> keys;  ///< "<org>/<notification_id>".
  bool busy = false;             ///< The head is being sent or recorded.
  TimerService::TimerId timer = 0;
};

}  // namespace

struct NotificationService::Impl : std::enable_shared_from_this<NotificationService::Impl> {
  Impl(runtime::Runtime& runtime, EventStore& store_in, const Notifications& notifications_in,
       WhenFolded when_folded_in, NotificationServiceOptions options_in)
      : store(store_in),
        notifications(notifications_in),
        when_folded(std::move(when_folded_in)),
        options(std::move(options_in)),
        timers(runtime.timers()),
        secrets(options.secrets_directory),
        channel_host(runtime, store_in, channel_repository, host_options("notification-channel")),
        window_host(runtime, store_in, window_repository, host_options("maintenance-window")),
        notification_host(runtime, store_in, notification_repository, host_options("notification")) {}

  static runtime::AggregateHostOptions host_options(const char* kind) {
    runtime::AggregateHostOptions host_options;
    host_options.core.kind = kind;
    return host_options;
  }

  void once_folded(std::uint64_t position, std::function<void()> then) {
    if (when_folded) return when_folded(position, std::move(then));
    then();
  }

  template <class Record, class Host, class Command>
  void send(Host& host, const std::string& instance_id, Command command, const RequestContext& context,
            Done<Record> done) {
    host.send(instance_id, std::move(command), context,
              [self = shared_from_this(), done = std::move(done)](Result<runtime::Outcome<Record>> outcome) {
                if (!outcome) return done(outcome.error());
                auto answer = std::make_shared<NotificationOutcome<Record>>(
                    NotificationOutcome<Record>{std::move(outcome->state), outcome->position});
                self->once_folded(answer->position, [answer, done] { done(std::move(*answer)); });
              });
  }

  // --- Delivery -------------------------------------------------------------------

  static std::string line_of(const NotificationRecord& record) {
    return org_scoped_id(record.org(), record.queued.channel_id);
  }

  void line_up(const NotificationRecord& record) {
    if (record.state != NotificationState::pending) return;
    const std::string line_key = line_of(record);
    const std::string key = notification_instance_id(record.org(), record.notification_id());
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) return;
      Line& line = lines[line_key];
      if (std::find(line.keys.begin(), line.keys.end(), key) != line.keys.end()) return;
      line.keys.push_back(key);
    }
    pump(line_key);
  }

  // Starts the line's head if it is due, or arms its timer.
  void pump(const std::string& line_key) {
    for (;;) {
      std::string key;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopping) return;
        const auto found = lines.find(line_key);
        if (found == lines.end()) return;
        Line& line = found->second;
        if (line.busy || line.timer != 0) return;
        if (line.keys.empty()) {
          lines.erase(found);
          return;
        }
        key = line.keys.front();
        line.busy = true;
      }
      const auto parts = split_org_scoped_id(key);
      const auto record = parts ? notifications.notification(parts->org, parts->name) : std::nullopt;
      if (!record || record->state != NotificationState::pending) {
        finish_head(line_key, key);
        continue;
      }
      const TimeMs now_ms = timers.now_ms();
      if (record->next_attempt_at_ms > now_ms) {
        std::lock_guard<std::mutex> lock(mutex);
        Line& line = lines[line_key];
        line.busy = false;
        if (stopping) return;
        line.timer = timers.schedule_at(record->next_attempt_at_ms, [weak = weak_from_this(), line_key] {
          const auto self = weak.lock();
          if (!self) return;
          {
            std::lock_guard<std::mutex> relock(self->mutex);
            const auto found = self->lines.find(line_key);
            if (found == self->lines.end()) return;
            found->second.timer = 0;
          }
          self->pump(line_key);
        });
        return;
      }
      const bool submitted = pool.submit(
          [self = shared_from_this(), line_key, record = *record] { self->attempt(line_key, record); });
      if (!submitted) return;
      return;
    }
  }

  // Pops `key` off its line (if it is still the head) and lets the next go.
  void finish_head(const std::string& line_key, const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = lines.find(line_key);
    if (found == lines.end()) return;
    Line& line = found->second;
    if (!line.keys.empty() && line.keys.front() == key) line.keys.pop_front();
    line.busy = false;
  }

  // The line's head stays; it is looked at again after `delay_ms`.
  void retry_later(const std::string& line_key, TimeMs delay_ms) {
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = lines.find(line_key);
    if (found == lines.end() || stopping) return;
    found->second.busy = false;
    found->second.timer = timers.schedule_after(delay_ms, [weak = weak_from_this(), line_key] {
      const auto self = weak.lock();
      if (!self) return;
      {
        std::lock_guard<std::mutex> relock(self->mutex);
        const auto again = self->lines.find(line_key);
        if (again == self->lines.end()) return;
        again->second.timer = 0;
      }
      self->pump(line_key);
    });
  }

  // On a sender thread: one attempt, then its record.
  void attempt(const std::string& line_key, const NotificationRecord& record) {
    const std::string key = notification_instance_id(record.org(), record.notification_id());
    RequestContext context;
    context.cause = "notification_delivery";
    const auto channel = notifications.channel(record.org(), record.queued.channel_id);
    NotificationCommand command;
    if (!channel || channel->deleted) {
      command = AbandonNotification{"the channel was deleted"};
    } else {
      const ChannelSecret secret = secrets.get(record.org(), record.queued.channel_id);
      const SendOutcome sent =
          channel->settings.type == ChannelType::webhook
              ? send_webhook(record.queued, channel->settings, secret, options.sender)
              : send_email(record.queued, record.queued_at_ms, channel->settings, secret, options.sender);
      if (!sent.ok) {
        log::info("a notification attempt failed", {{"notification_id", record.notification_id()},
                                                    {"channel_id", record.queued.channel_id},
                                                    {"attempt", record.attempts + 1},
                                                    {"http_status", sent.http_status},
                                                    {"error", sent.error}});
      }
      command =
          RecordAttempt{record.attempts + 1,   sent.ok, sent.http_status, sent.error, options.backoff_base_ms,
                        options.backoff_max_ms};
    }
    notification_host.send(
        key, std::move(command), context,
        [self = shared_from_this(), line_key, key](Result<runtime::Outcome<NotificationRecord>> outcome) {
          if (!outcome) {
            log::warn("cannot record a notification attempt; trying again",
                      {{"notification", key}, {"error", outcome.error().message}});
            return self->retry_later(line_key, kRecordRetryMs);
          }
          const bool final = is_final(outcome->state.state);
          self->once_folded(outcome->position, [self, line_key, key, final] {
            if (final) {
              self->finish_head(line_key, key);
            } else {
              std::lock_guard<std::mutex> lock(self->mutex);
              const auto found = self->lines.find(line_key);
              if (found != self->lines.end()) found->second.busy = false;
            }
            self->pump(line_key);
          });
        });
  }

  EventStore& store;
  const Notifications& notifications;
  const WhenFolded when_folded;
  const NotificationServiceOptions options;
  TimerService& timers;
  ChannelSecrets secrets;
  runtime::FoldRepository<NotificationChannelAggregate> channel_repository;
  runtime::FoldRepository<MaintenanceWindowAggregate> window_repository;
  runtime::FoldRepository<NotificationAggregate> notification_repository;
  runtime::AggregateHost<NotificationChannelAggregate> channel_host;
  runtime::AggregateHost<MaintenanceWindowAggregate> window_host;
  runtime::AggregateHost<NotificationAggregate> notification_host;
  SenderPool pool;
  std::atomic<bool> stopping{false};
  mutable std::mutex mutex;
  std::map<std::string, Line> lines;  ///< By "<org>/<channel_id>"; guarded by `mutex`.
};

NotificationService::NotificationService(runtime::Runtime& runtime, EventStore& store,
                                         const Notifications& notifications, WhenFolded when_folded,
                                         NotificationServiceOptions options)
    : impl_(std::make_shared<Impl>(runtime, store, notifications, std::move(when_folded),
                                   std::move(options))) {}

NotificationService::~NotificationService() {
  stop();
}

Status NotificationService::start() {
  impl_->pool.start(impl_->options.sender_threads);
  return Status::success();
}

void NotificationService::stop() {
  Impl& impl = *impl_;
  std::vector<TimerService::TimerId> timers;
  {
    std::lock_guard<std::mutex> lock(impl.mutex);
    impl.stopping = true;
    for (auto& entry : impl.lines) {
      if (entry.second.timer != 0) timers.push_back(entry.second.timer);
    }
    impl.lines.clear();
  }
  for (const TimerService::TimerId timer : timers) impl.timers.cancel(timer);
  impl.pool.stop();
  impl.notification_host.stop();
  impl.window_host.stop();
  impl.channel_host.stop();
}

Status NotificationService::resume() {
  for (const NotificationRecord& record : impl_->notifications.pending()) impl_->line_up(record);
  return Status::success();
}

void NotificationService::create_channel(const std::string& org, const ChannelRequest& request,
                                         const RequestContext& context, Done<NotificationChannel> done) {
  if (impl_->stopping) return done(shutting_down());
  if (Status valid = validate(request); !valid) return done(valid.error());
  auto channel_id = random_id();
  if (!channel_id) return done(channel_id.error());
  ChannelSecret secret = request.secret;
  if (request.settings.type == ChannelType::webhook) secret.url = request.settings.url;
  if (Status kept = impl_->secrets.put(org, *channel_id, secret); !kept) return done(kept.error());
  NotificationChannelCreated created;
  created.channel_id = *channel_id;
  created.org = org;
  created.settings = request.settings;
  if (created.settings.type == ChannelType::webhook)
    created.settings.url = redacted_url(request.settings.url);
  created.settings.has_secret = !request.secret.secret.empty();
  created.settings.header_names.clear();
  for (const auto& header : request.secret.headers) created.settings.header_names.push_back(header.first);
  created.settings.has_smtp_password = !request.secret.smtp_password.empty();
  created.principal = context.principal;
  impl_->send<NotificationChannel>(impl_->channel_host, channel_instance_id(org, *channel_id),
                                   ChannelCommand{CreateChannel{std::move(created)}}, context,
                                   std::move(done));
}

void NotificationService::delete_channel(const Principal& caller, const std::string& channel_id,
                                         const RequestContext& context, Done<NotificationChannel> done) {
  if (impl_->stopping) return done(shutting_down());
  const auto known = impl_->notifications.channel_by_id(caller.org, channel_id);
  if (!known || known->deleted) return done(channel_not_found());
  impl_->send<NotificationChannel>(impl_->channel_host, channel_instance_id(known->org, known->channel_id),
                                   ChannelCommand{DeleteChannel{}}, context,
                                   [impl = impl_, org = known->org, channel_id, done = std::move(done)](
                                       Result<NotificationOutcome<NotificationChannel>> outcome) {
                                     if (outcome) {
                                       impl->secrets.remove(org, channel_id);
                                       // Its waiting notifications come up and are abandoned.
                                       impl->pump(org_scoped_id(org, channel_id));
                                     }
                                     done(std::move(outcome));
                                   });
}

std::vector<NotificationChannel> NotificationService::channels(const Principal& caller) const {
  return impl_->notifications.channels(caller.org);
}

Result<NotificationChannel> NotificationService::channel(const Principal& caller,
                                                         const std::string& channel_id) const {
  auto known = impl_->notifications.channel_by_id(caller.org, channel_id);
  if (!known || known->deleted) return channel_not_found();
  return std::move(*known);
}

void NotificationService::create_window(const std::string& org, const MaintenanceWindowRequest& request,
                                        const RequestContext& context, Done<MaintenanceWindow> done) {
  if (impl_->stopping) return done(shutting_down());
  if (request.ends_at_ms <= request.starts_at_ms)
    return done(invalid_field("ends_at", "must come after starts_at"));
  if (request.reason.size() > 1024 || has_control(request.reason)) {
    return done(invalid_field("reason", "must be at most 1024 characters, no control characters"));
  }
  auto window_id = random_id();
  if (!window_id) return done(window_id.error());
  MaintenanceWindowCreated created{
      *window_id,       org, request.scope, request.starts_at_ms, request.ends_at_ms, request.reason,
      context.principal};
  impl_->send<MaintenanceWindow>(impl_->window_host, maintenance_window_instance_id(org, *window_id),
                                 MaintenanceWindowCommand{CreateMaintenanceWindow{std::move(created)}},
                                 context, std::move(done));
}

void NotificationService::delete_window(const Principal& caller, const std::string& window_id,
                                        const RequestContext& context, Done<MaintenanceWindow> done) {
  if (impl_->stopping) return done(shutting_down());
  const auto known = impl_->notifications.window_by_id(caller.org, window_id);
  if (!known || known->deleted) return done(maintenance_window_not_found());
  impl_->send<MaintenanceWindow>(
      impl_->window_host, maintenance_window_instance_id(known->org, known->window_id),
      MaintenanceWindowCommand{DeleteMaintenanceWindow{}}, context, std::move(done));
}

std::vector<MaintenanceWindow> NotificationService::windows(const Principal& caller,
                                                            TimeMs ended_after_ms) const {
  return impl_->notifications.windows(caller.org, ended_after_ms);
}

Result<MaintenanceWindow> NotificationService::window(const Principal& caller,
                                                      const std::string& window_id) const {
  auto known = impl_->notifications.window_by_id(caller.org, window_id);
  if (!known || known->deleted) return maintenance_window_not_found();
  return std::move(*known);
}

std::vector<NotificationRecord> NotificationService::deliveries(const Principal& caller,
                                                                const std::string& alert_id) const {
  return impl_->notifications.of_alert(caller.org, alert_id);
}

void NotificationService::queue(NotificationQueued queued, const RequestContext& context,
                                Done<NotificationRecord> done) {
  if (impl_->stopping) return done(shutting_down());
  if (queued.retry_until_ms == 0)
    queued.retry_until_ms = impl_->timers.now_ms() + impl_->options.retry_for_ms;
  const std::string key = notification_instance_id(queued.org, queued.notification_id);
  impl_->send<NotificationRecord>(
      impl_->notification_host, key, NotificationCommand{QueueNotification{std::move(queued)}}, context,
      [impl = impl_, done = std::move(done)](Result<NotificationOutcome<NotificationRecord>> outcome) {
        if (outcome) impl->line_up(outcome->record);
        done(std::move(outcome));
      });
}

std::size_t NotificationService::in_flight() const {
  return impl_->pool.busy();
}

}  // namespace muster
