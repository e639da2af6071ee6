// GET /metrics: muster's own health in Prometheus' text format (0.0.4),
// for Prometheus to scrape. Counters come from what the hot paths count
// with relaxed atomics (the API's answers, the log's writer, the actor
// hosts); gauges are read at scrape time from the read models /api/v1/stats
// answers from, and from /proc for the standard process_* metrics. Every
// label value comes from a bounded set (route patterns, enums), never from
// a request. Open by default (Prometheus scrapes without a key);
// `--metrics-require-key` asks a viewer key.

#include "common/process_stats.hpp"
#include "common/prometheus_text.hpp"
#include "http/api.hpp"
#include "http/event_streams.hpp"

namespace muster::http::routes {
namespace {

void write_http(PrometheusText& out, const RequestMetrics& requests) {
  const auto labels_of = [&requests](std::size_t route) -> RequestMetrics::RouteLabels {
    if (route == requests.unmatched()) return {"", "unmatched"};
    return requests.labels(route);
  };
  out.family(
      "muster_http_requests_total", MetricType::counter,
      "HTTP requests answered by the API, by method and route pattern (\"unmatched\": no route) and status.");
  for (std::size_t route = 0; route <= requests.route_count(); ++route) {
    const auto labels = labels_of(route);
    for (std::size_t slot = 0; slot < RequestMetrics::kStatusSlots; ++slot) {
      if (const std::uint64_t answers = requests.answers(route, slot); answers > 0) {
        out.sample({{"method", labels.method},
                    {"route", labels.pattern},
                    {"code", RequestMetrics::status_label(slot)}},
                   answers);
      }
    }
  }
  out.family("muster_http_request_duration_seconds", MetricType::histogram,
             "Time from a request's head read to its answer handed to the connection, by route.");
  for (std::size_t route = 0; route <= requests.route_count(); ++route) {
    const AtomicHistogram& latency = requests.latency(route);
    if (latency.count() == 0) continue;  // Routes never called add no series.
    const auto labels = labels_of(route);
    out.histogram({{"method", labels.method}, {"route", labels.pattern}}, latency.snapshot());
  }
}

void write_log(PrometheusText& out, const Services& services) {
  if (const LogMetrics* log = services.log_metrics) {
    out.family("muster_log_appends_total", MetricType::counter, "Appends written to the event log.");
    out.sample(log->appends.load(std::memory_order_relaxed));
    out.family("muster_log_events_appended_total", MetricType::counter, "Events written to the event log.");
    out.sample(log->events.load(std::memory_order_relaxed));
    out.family("muster_log_write_failures_total", MetricType::counter,
               "Durable writes of the event log that failed (their appends were refused).");
    out.sample(log->failed_writes.load(std::memory_order_relaxed));
    out.family("muster_log_write_batch_appends", MetricType::histogram,
               "Appends per durable write of the event log (group commit).");
    out.histogram({}, log->batch_appends.snapshot());
    out.family("muster_log_write_duration_seconds", MetricType::histogram,
               "Time of one durable write of the event log, its fsync included (--durability fsync).");
    out.histogram({}, log->write_latency.snapshot());
  }
  const auto head = services.store->head_position();
  if (head) {
    out.family("muster_log_head_position", MetricType::gauge,
               "Position of the event log's last durable event.");
    out.sample(*head);
  }
  const std::uint64_t folded = services.projections->position();
  out.family("muster_projection_position", MetricType::gauge,
             "Last log position every read model has folded.");
  out.sample(folded);
  if (head) {
    out.family(
        "muster_projection_lag_events", MetricType::gauge,
        "Events in the log that the read models have not folded yet (head minus projection position).");
    out.sample(*head > folded ? *head - folded : std::uint64_t{0});
  }
}

void write_fleet(PrometheusText& out, const Services& services) {
  const FleetStats fleet = services.registry->stats(kAllOrgs);
  out.family("muster_agents", MetricType::gauge, "Listed agents by status (as /api/v1/stats counts them).");
  out.sample({{"status", "online"}}, std::uint64_t{fleet.online});
  out.sample({{"status", "degraded"}}, std::uint64_t{fleet.degraded});
  out.sample({{"status", "offline"}}, std::uint64_t{fleet.offline});
  const ConfigStatusCounts config = services.config_model->status_counts(kAllOrgs);
  out.family("muster_agents_by_config_status", MetricType::gauge,
             "Listed agents by the state of their desired configuration.");
  for (std::size_t index = 0; index < kConfigStatusCount; ++index) {
    out.sample({{"config_status", to_string(static_cast<ConfigStatus>(index))}},
               std::uint64_t{config[index]});
  }
}

void write_runtime(PrometheusText& out, const Services& services) {
  if (services.runtime != nullptr) {
    const std::vector<runtime::HostCounts> hosts = services.runtime->host_counts();
    out.family("muster_actors_active", MetricType::gauge,
               "Aggregate instances (virtual actors) active, by kind.");
    for (const auto& host : hosts) out.sample({{"kind", host.kind}}, std::uint64_t{host.active});
    out.family("muster_actor_passivations_total", MetricType::counter,
               "Aggregate instances passivated when idle (their memory freed), by kind.");
    for (const auto& host : hosts) out.sample({{"kind", host.kind}}, host.passivated);
  }
  out.family("muster_timers_pending", MetricType::gauge,
             "Timers waiting to fire (deadlines, expiries, retries, passivation checks).");
  out.sample(std::uint64_t{services.timers->pending()});
  if (services.event_streams != nullptr) {
    out.family("muster_sse_streams", MetricType::gauge, "Live event streams open (GET /api/v1/events/stream).");
    out.sample(std::uint64_t{services.event_streams->open_streams()});
  }
}

void write_alerting(PrometheusText& out, const Services& services) {
  if (services.alert_model != nullptr) {
    const AlertCounts alerts = services.alert_model->counts();
    out.family("muster_alerts", MetricType::gauge, "Alerts that have fired, by state and severity.");
    for (const AlertStatus status : {AlertStatus::firing, AlertStatus::resolved}) {
      for (const AlertSeverity severity :
           {AlertSeverity::info, AlertSeverity::warning, AlertSeverity::critical}) {
        out.sample(
            {{"state", to_string(status)}, {"severity", to_string(severity)}},
            std::uint64_t{alerts[static_cast<std::size_t>(status)][static_cast<std::size_t>(severity)]});
      }
    }
  }
  if (services.notification_model != nullptr) {
    const DeliveryCounts deliveries = services.notification_model->delivery_counts();
    constexpr ChannelType kTypes[] = {ChannelType::webhook, ChannelType::email};
    out.family("muster_notifications", MetricType::gauge,
               "Notifications about alerts (webhook or email; suppressed ones name no channel), by state.");
    for (const ChannelType type : kTypes) {
      for (const NotificationState state :
           {NotificationState::pending, NotificationState::delivered, NotificationState::abandoned}) {
        out.sample(
            {{"channel_type", to_string(type)}, {"state", to_string(state)}},
            std::uint64_t{
                deliveries.by_channel_type[static_cast<std::size_t>(type)][static_cast<std::size_t>(state)]});
      }
    }
    out.sample({{"channel_type", "none"}, {"state", to_string(NotificationState::suppressed)}},
               std::uint64_t{deliveries.suppressed});
    out.family("muster_notification_attempts_total", MetricType::counter,
               "Attempts to send a notification, by channel type and outcome.");
    for (const ChannelType type : kTypes) {
      const auto index = static_cast<std::size_t>(type);
      out.sample({{"channel_type", to_string(type)}, {"outcome", "ok"}}, deliveries.attempts_ok[index]);
      out.sample({{"channel_type", to_string(type)}, {"outcome", "failed"}},
                 deliveries.attempts_failed[index]);
    }
  }
}

// The names every Prometheus client library uses for them.
void write_process(PrometheusText& out) {
  const auto process = read_process_stats();
  if (!process) return;
  out.family("process_cpu_seconds_total", MetricType::counter,
             "Total user and system CPU time spent in seconds.");
  out.sample(process->cpu_seconds);
  out.family("process_resident_memory_bytes", MetricType::gauge, "Resident memory size in bytes.");
  out.sample(process->resident_memory_bytes);
  out.family("process_virtual_memory_bytes", MetricType::gauge, "Virtual memory size in bytes.");
  out.sample(process->virtual_memory_bytes);
  out.family("process_open_fds", MetricType::gauge, "Number of open file descriptors.");
  out.sample(process->open_fds);
  out.family("process_max_fds", MetricType::gauge, "Maximum number of open file descriptors.");
  out.sample(process->max_fds);
  out.family("process_start_time_seconds", MetricType::gauge,
             "Start time of the process since unix epoch in seconds.");
  out.sample(process->start_time_seconds);
}

void metrics(const std::shared_ptr<Call>& call) {
  const Services& services = call->services;
  PrometheusText out;
  out.family("muster_ready", MetricType::gauge,
             "1 once muster has recovered its log and serves every route.");
  out.sample(std::uint64_t{call->api->ready() ? 1u : 0u});
  write_http(out, call->api->request_metrics());
  write_log(out, services);
  write_fleet(out, services);
  write_runtime(out, services);
  write_alerting(out, services);
  write_process(out);
  Response response;
  response.body = out.take();
  response.content_type = std::string(kPrometheusTextContentType);
  call->reply(std::move(response));
}

}  // namespace

void add_prometheus(RouteTable& table, bool require_key) {
  table.add("GET", "/metrics",
            any_node({metrics, require_key ? Credential::api_key : Credential::none, Role::viewer}));
}

}  // namespace muster::http::routes
