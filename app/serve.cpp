#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <thread>

#include <fmt/format.h>

#include "actors/alert/alert_service.hpp"
#include "actors/api_key/api_key_service.hpp"
#include "actors/bulk/bulk_service.hpp"
#include "actors/command/command_service.hpp"
#include "actors/rollout/rollout_service.hpp"
#include "actors/config/config_service.hpp"
#include "actors/crash_injector.hpp"
#include "actors/enrollment/enrollment_service.hpp"
#include "actors/enrollment/registration.hpp"
#include "actors/group/group_service.hpp"
#include "actors/notification/notification_service.hpp"
#include "actors/notification/notifier.hpp"
#include "actors/runtime/await.hpp"
#include "actors/runtime/runtime.hpp"
#include "app/commands.hpp"
#include "app/service_manager.hpp"
#include "common/lifecycle.hpp"
#include "common/log.hpp"
#include "common/timers.hpp"
#include "eventstore/log_metrics.hpp"
#include "eventstore/metrics/metric_history.hpp"
#include "eventstore/nats_cluster.hpp"
#include "eventstore/nats_storage.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "http/event_streams.hpp"
#include "http/forwarding.hpp"
#include "http/opamp/opamp_codec.hpp"
#include "projections/event_queries.hpp"
#include "projections/last_seen_follower.hpp"
#include "projections/access_projection.hpp"
#include "projections/alerts.hpp"
#include "projections/bulk_jobs.hpp"
#include "projections/commands.hpp"
#include "projections/notifications.hpp"
#include "projections/rollouts.hpp"
#include "projections/config_model.hpp"
#include "projections/report_counts.hpp"
#include "projections/projection_runner.hpp"

namespace muster::app {
namespace {

// Every open connection holds a descriptor: allow as many as the hard limit
// does (Debian's soft default, 1024, is below what --http-threads serves).
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
    log::warn("cannot raise the open-file limit", {{"errno", errno}});
}

// Blocks SIGTERM and SIGINT in this thread and every thread it starts, so
// that `wait_for_stop_signal` alone receives them.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int wait_for_stop_signal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

// Writes `text` to `path`, readable by the owner only.
Status write_secret_file(const std::string& path, const std::string& text) {
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file < 0) return make_error(ErrorCode::io_error, fmt::format("cannot create {}", path));
  const bool written = ::fchmod(file, 0600) == 0 &&
                       ::write(file, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(file) == 0;
  ::close(file);
  if (!written) return make_error(ErrorCode::io_error, fmt::format("cannot write {}", path));
  return Status::success();
}

// A new data directory gets one admin key, written to <data>/admin.key, so
// the operator API is usable without the key ever appearing in a log.
// Returns the log position of the key's event.
Result<std::uint64_t> bootstrap_admin_key(ApiKeyService& keys, const std::string& data_dir) {
  RequestContext context;
  context.cause = "bootstrap";
  const Principal system{"", Role::admin, std::string(kAllOrgs)};
  auto issued = await_result<IssuedApiKey>(
      [&](auto done) {
        keys.create(system, {"bootstrap-admin", Role::admin, std::string(kAllOrgs)}, context, std::move(done));
      },
      60'000, "BUSY");
  if (!issued) return issued.error();
  const std::string path = data_dir + "/admin.key";
  if (Status written = write_secret_file(path, issued->plaintext + "\n"); !written) return written.error();
  log::info("created the bootstrap admin API key", {{"file", path}, {"key_id", issued->key.key_id}});
  return issued->position;
}

// What the operator should do about a store that cannot be opened or read.
/// The log in the data directory, or (--store nats) in the shared stream
/// with this node's replica in the data directory.
/// In a cluster only the lease's holder writes: `membership` says who.
Result<std::unique_ptr<Storage>> open_storage(const ServeOptions& options, const RocksDbOptions& store_options,
                                              const ClusterMembership* membership) {
  if (options.store_kind == StoreKind::rocksdb) return open_rocksdb_storage(store_options);
  NatsOptions nats = options.nats;
  nats.store = store_options.store;
  nats.path = store_options.path;
  nats.may_publish = [membership] { return membership->is_leader(); };
  return open_nats_storage(nats);
}

/// `scheme://host:port`, brackets around an IPv6 host.
std::string base_url(bool tls, const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", tls ? "https" : "http", ipv6 ? "[" : "", host, ipv6 ? "]" : "", port);
}

/// This node's membership of the cluster (eventstore/nats_cluster.hpp),
/// its id checked against the live nodes'.
Result<std::unique_ptr<ClusterMembership>> open_membership(const ServeOptions& options) {
  // A lease must be renewed within its period: no request of the
  // membership's may wait longer than a third of it.
  NatsConnectOptions connect = options.nats.connection;
  connect.request_timeout = std::min(connect.request_timeout, std::chrono::milliseconds(options.lease_period_ms / 3));
  auto connection = NatsConnection::connect(connect);
  if (!connection) return connection.error();
  ClusterOptions cluster;
  cluster.node_id = options.nats.node_id;
  cluster.lease_period = std::chrono::milliseconds(options.lease_period_ms);
  cluster.replicas = options.nats.replicas;
  cluster.bucket_prefix = options.nats.stream;
  cluster.data_dir = options.store.path;
  return ClusterMembership::open(*connection, cluster);
}

/// Registers this node with the URLs the others forward to.
Status join_cluster(ClusterMembership& membership, const ServeOptions& options, const http::ApiServer& api) {
  const bool tls = !options.http.operators.tls_cert_path.empty();
  const auto advertised = [&](const std::string& host) {
    return options.advertise_host.empty() ? host : options.advertise_host;
  };
  const std::string operators_url = base_url(tls, advertised(options.http.operators.host), api.port());
  return membership.join(operators_url, options.http.serve_agents
                                            ? base_url(tls, advertised(options.http.agents.host), api.agent_port())
                                            : operators_url);
}

const char* storage_hint(const ServeOptions& options, const Error& error) {
  if (options.store_kind == StoreKind::nats && error.code == ErrorCode::unavailable) {
    return "start NATS with JetStream (scripts/nats-cluster up), check --nats-url and the credentials, or "
           "wait for it with --nats-wait";
  }
  if (options.store_kind == StoreKind::nats && error.code == ErrorCode::conflict) {
    return "give this node an id of its own (--node-id), or stop the node that holds this one";
  }
  if (options.store_kind == StoreKind::nats && error.code == ErrorCode::invalid_argument) {
    return "every node must name the same stream with the same --nats-replicas, and its own --node-id";
  }
  if (error.code == ErrorCode::corruption) {
    return "the data directory is damaged (the error names the file): restore it from a backup, or move it "
           "aside to start empty; muster will not serve a state it cannot trust";
  }
  return "check the path, its permissions and free space";
}

const char* durability_name(Durability durability) {
  return durability == Durability::fsync ? "fsync" : "wal";
}

}  // namespace

int run_serve(const ServeOptions& options) {
  log::set_level(options.log_level);
  http::route_protobuf_logs();
  const sigset_t stop_signals = block_stop_signals();
  raise_descriptor_limit();
  // Tests may drive the server's time: expiries and bake times then come due
  // when a test says, not after real minutes.
  SystemClock system_clock;
  ManualClock manual_clock(system_clock.now_ms());
  RealTimerService timers(options.test_manual_clock ? static_cast<const Clock&>(manual_clock) : system_clock);
  const TimeMs started_ms = timers.now_ms();

  RocksDbOptions store_options = options.store;
  store_options.store.clock = &timers;
  // The log writer's counts, read by GET /metrics.
  LogMetrics log_metrics;
  store_options.store.metrics = &log_metrics;
  // RocksDB cannot take writes again in this process: stop cleanly (reads
  // and requests in flight finish) and exit 1; a restart recovers the log.
  static std::atomic<bool> storage_failed{false};
  store_options.store.on_unrecoverable_storage = [](const Error& error) {
    log::error(
        "the event store cannot take writes again without a restart; muster stops",
        {{"error", error.message},
         {"hint", "fix the disk (see the error), then start muster again: nothing acknowledged is lost"}});
    storage_failed = true;
    ::kill(::getpid(), SIGTERM);
  };
  if (!options.test_sync_ledger.empty() || !options.test_fail_writes_while.empty() ||
      options.test_sync_delay_ms > 0) {
    auto hooks = TestFileHooks::open(options.test_sync_ledger, options.test_fail_writes_while,
                                     static_cast<TimeMs>(options.test_sync_delay_ms));
    if (!hooks) {
      log::error("cannot install the test file hooks", {{"error", hooks.error().message}});
      return 1;
    }
    store_options.file_hooks = std::move(*hooks);
    log::warn(
        "test file hooks installed: the store's writes are observed or failed on purpose",
        {{"sync_ledger", options.test_sync_ledger}, {"fail_writes_while", options.test_fail_writes_while}});
  }
  // Several nodes: this one's membership, its id checked before anything is opened.
  std::unique_ptr<ClusterMembership> membership;
  if (options.store_kind == StoreKind::nats) {
    auto opened_membership = open_membership(options);
    if (!opened_membership) {
      log::error("cannot join the cluster", {{"error", opened_membership.error().message},
                                             {"hint", storage_hint(options, opened_membership.error())}});
      return 1;
    }
    membership = std::move(*opened_membership);
  }
  auto opened = open_storage(options, store_options, membership.get());
  if (!opened) {
    log::error("cannot open the event store", {{"data", options.store.path},
                                               {"error", opened.error().message},
                                               {"hint", storage_hint(options, opened.error())}});
    return 1;
  }
  Storage& storage = **opened;
  EventStore& store = storage.events();
  const auto head = store.head_position();
  if (!head) {
    log::error("cannot read the log's head", {{"data", options.store.path},
                                               {"error", head.error().message},
                                               {"hint", storage_hint(options, head.error())}});
    return 1;
  }
  if (options.store_kind == StoreKind::nats) {
    log::info("event store open: the NATS JetStream stream, replicated here",
              {{"data", options.store.path},
               {"stream", options.nats.stream},
               {"replicas", options.nats.replicas},
               {"node_id", options.nats.node_id},
               {"log_position", *head}});
  } else {
    log::info("event store open", {{"data", options.store.path},
                                   {"durability", durability_name(options.store.durability)},
                                   {"log_position", *head}});
  }

  // Everything that runs, in the order it starts; `stack` stops it in reverse.
  AgentRegistry registry;
  AccessProjection access;
  ConfigModel configs;
  BulkJobs bulk_jobs;
  CommandQueue command_queue;
  Rollouts rollout_model;
  Alerts alert_model;
  // Listed after the registry in the runner: it asks the registry for agents' organizations.
  ReportCounts report_counts(registry);
  ProjectionRunnerOptions runner_options;
  runner_options.snapshot_interval_ms = options.snapshot_interval_ms;
  Notifications notification_model;
  ProjectionRunner projections(store, storage.snapshots(),
                               {&registry, &access, &configs, &bulk_jobs, &rollout_model, &report_counts,
                                &command_queue, &alert_model, &notification_model},
                               timers, runner_options);
  runtime::Runtime actors(timers, {});
  CrashInjector crash_injector;
  AgentServiceOptions agent_options = options.agents;
  if (options.enable_test_hooks) {
    log::warn("test hooks enabled: POST /_test/agents/{id}/crash fails an agent's actor",
              {{"manual_clock", options.test_manual_clock}});
    agent_options.TEST_before_command = [&crash_injector](const std::string& agent_id) {
      crash_injector.check(agent_id);
    };
    agent_options.TEST_to_actor = [&crash_injector](const std::string& agent_id) {
      return crash_injector.armed(agent_id);
    };
  }
  // Heartbeats' metrics: buffered on the answering thread, written by the history's flusher.
  MetricHistory metric_history(storage.metric_table(), timers, options.metrics);
  if (options.metrics_history) {
    agent_options.on_metrics = [&metric_history](const AgentId& agent_id, std::string_view org,
                                                 TimeMs heard_at_ms, const std::map<std::string, double>& metrics) {
      metric_history.record(agent_id, org, heard_at_ms, metrics);
    };
  }
  const WhenFolded when_folded = [&projections](std::uint64_t position, std::function<void()> then) {
    projections.when_folded(position, std::move(then));
  };
  // The alert evaluator takes every heartbeat's metrics too, once it exists (below).
  AlertService* alert_evaluation = nullptr;
  agent_options.on_metrics = [&alert_evaluation, before = std::move(agent_options.on_metrics)](
                                 const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
                                 const std::map<std::string, double>& metrics) {
    if (before) before(agent_id, org, heard_at_ms, metrics);
    if (alert_evaluation != nullptr) alert_evaluation->on_metrics(agent_id, org, heard_at_ms, metrics);
  };
  AgentService agents(actors, store, storage.last_seen(), registry, agent_options);
  ApiKeyService api_keys(actors, store, &access, when_folded);
  UserService users(actors, store, &access, timers, when_folded);
  EnrollmentService enrollment(actors, store, storage.snapshots(), access, when_folded);
  ConfigService config_service(actors, store, &configs, when_folded);
  GroupService groups(actors, store, storage.snapshots(), configs, registry, when_folded);
  CommandService commands(actors, store, registry, configs, command_queue, when_folded);
  BulkService bulk(actors, store, agents, groups, commands, registry, configs, bulk_jobs, when_folded);
  RolloutServiceOptions rollout_options;
  rollout_options.health = options.http.api.health;
  rollout_options.tick_ms = options.rollout_tick_ms;
  RolloutService rollouts(actors, store, groups, registry, configs, rollout_model, when_folded, rollout_options);
  // Alert rules, alerts and their evaluator, which follows the log after every read model folded a batch.
  AlertService alerts(actors, store, registry, configs, alert_model, when_folded);
  alert_evaluation = &alerts;
  // Only the node that runs the fleet evaluates and notifies (in a cluster, the leader).
  std::atomic<bool> leading{false};
  // This node runs the fleet (it led and resumed everything): it answers all requests itself.
  std::atomic<bool> fleet_running{false};
  projections.observe([&alerts, &leading](const std::vector<Event>& batch) {
    if (leading) alerts.observe(batch);
  });
  // Notifications: channels, maintenance windows, the outbox's delivery, and
  // the notifier that follows the alerts (after every read model folded a batch).
  NotificationServiceOptions notification_options;
  notification_options.secrets_directory = options.store.path + "/secrets";
  notification_options.retry_for_ms = options.webhook_retry_for_ms;
  NotificationService notifications(actors, store, notification_model, when_folded, notification_options);
  Notifier notifier(notifications, notification_model, registry, configs, timers);
  projections.observe([&notifier, &leading](const std::vector<Event>& batch) {
    if (leading) notifier.observe_batch(batch);
  });
  Registrations registrations(enrollment, agents, registry);
  EventQueries events(store, registry, access);
  // Live event streams read on after every batch the read models folded.
  http::EventStreams event_streams(timers);
  projections.observe(
      [&event_streams](const std::vector<Event>& batch) { event_streams.on_folded(batch); });
  http::Services services;
  services.store = &store;
  services.projections = &projections;
  services.registry = &registry;
  services.events = &events;
  services.event_streams = &event_streams;
  services.agents = &agents;
  services.registrations = &registrations;
  services.api_keys = &api_keys;
  services.users = &users;
  services.enrollment = &enrollment;
  services.config_model = &configs;
  services.configs = &config_service;
  services.groups = &groups;
  services.bulk = &bulk;
  services.commands = &commands;
  services.rollouts = &rollouts;
  services.report_counts = &report_counts;
  services.alerts = &alerts;
  services.notifications = &notifications;
  services.metrics = &metric_history;
  services.timers = &timers;
  services.runtime = &actors;
  services.alert_model = &alert_model;
  services.notification_model = &notification_model;
  services.log_metrics = &log_metrics;
  // Several nodes: the hand-off of requests to the leader while this node does not lead.
  std::unique_ptr<http::Forwarder> forwarder;
  if (options.store_kind == StoreKind::nats) {
    services.cluster = membership.get();
    forwarder = std::make_unique<http::Forwarder>(
        http::LeaderView{[&fleet_running] { return fleet_running.load(); },
                         [&membership] { return membership->leader(); }, options.nats.node_id,
                         [&projections](std::uint64_t position, std::chrono::milliseconds within) {
                           projections.wait_for_position(position, within);
                         }},
        http::ForwarderOptions{});
    services.forwarder = forwarder.get();
  }
  services.crash_injector = options.enable_test_hooks ? &crash_injector : nullptr;
  services.test_clock = options.test_manual_clock ? &manual_clock : nullptr;
  http::ApiServerOptions http_options = options.http;
  // OpAMP agents are offered a heartbeat a quarter of their timeout apart.
  http_options.opamp.heartbeat_interval_ms = std::max<TimeMs>(options.agents.heartbeat_timeout_ms / 4, 1000);
  http_options.opamp.max_config_bytes = options.http.api.max_config_bytes;
  // The dashboard's cookie travels only over TLS when the operators' listener speaks it.
  http_options.api.secure_cookies = !options.http.operators.tls_cert_path.empty();
  http::ApiServer api(http_options, services);
  FunctionService forwarding_service(
      "forwarder", [&forwarder] { return forwarder ? forwarder->start() : Status::success(); },
      [&forwarder] {
        if (forwarder) forwarder->stop();
      });

  FunctionService storage_service("storage", nullptr, [&storage] { storage.stop(); });
  FunctionService runtime_service("runtime", nullptr, [&actors] { actors.stop(); });
  ServiceStack stack;
  for (Service* service : std::initializer_list<Service*>{&storage_service, &timers, &metric_history, &projections,
                                                          &runtime_service, &agents, &api_keys, &users, &enrollment,
                                                          &notifications, &notifier,
                                                          &config_service, &groups, &bulk, &rollouts, &alerts,
                                                          // Stopped after the API, whose listener
                                                          // ends the streams.
                                                          &event_streams, &forwarding_service, &api,
                                                          // Stopped before the API: it answers
                                                          // the agents' parked fetches, which
                                                          // the listener's drain waits for.
                                                          &commands}) {
    stack.add(*service);
  }
  if (Status started = stack.start(); !started) {
    log::error("cannot start",
               {{"error", started.error().message}, {"hint", storage_hint(options, started.error())}});
    return 1;
  }
  log::info("listening", {{"listen", fmt::format("{}:{}", options.http.operators.host, api.port())},
                          {"port", api.port()},
                          {"agent_listen", options.http.serve_agents
                                               ? fmt::format("{}:{}", options.http.agents.host, api.agent_port())
                                               : std::string("off")},
                          {"agent_port", api.agent_port()},
                          {"tls", !options.http.operators.tls_cert_path.empty()}});

  // Ready once the read models hold the log as it was at start (agents'
  // deadlines need every live agent), and the bootstrap key works.
  if (!projections.wait_for_position(*head, std::chrono::minutes(30))) {
    log::error("the read models did not catch up with the log");
    stack.stop();
    return 1;
  }
  const ProjectionRecovery& recovery = projections.recovery();
  log::info("recovered", {{"log_position", *head},
                          {"events", *head - recovery.folded_from},
                          {"fleet_snapshot_position", recovery.snapshot_position("fleet")},
                          {"snapshot_load_ms", recovery.snapshot_load_ms},
                          {"duration_ms", timers.now_ms() - started_ms},
                          {"heartbeat_timeout_ms", options.agents.heartbeat_timeout_ms}});
  // Running the fleet: the agents' deadlines, bulk jobs, commands' timers,
  // rollouts, alerts and notifications, all resumed from the read models.
  // One node does it alone; in a cluster the leader, once it is one.
  const auto lead = [&]() -> Status {
    leading = true;
    if (Status resumed = agents.resume(); !resumed) {
      return make_error(resumed.error().code,
                        fmt::format("cannot load the agents' last-seen times: {}", resumed.error().message));
    }
    // Unfinished bulk jobs go on where they stopped, now that the read models
    // (which say what each agent already is) hold the log.
    if (Status resumed = bulk.resume(); !resumed) {
      log::error("cannot resume every bulk job", {{"error", resumed.error().message}});
    }
    // Commands' expiries and wake-ups are timers: armed again for every open command.
    if (Status resumed = commands.resume(); !resumed) {
      log::error("cannot arm the commands' timers", {{"error", resumed.error().message}});
    }
    // Running rollouts measure their stage again: the config model holds their layers.
    rollouts.resume();
    // The evaluator is given the rules, the agents and the alerts firing, then follows the log.
    alerts.resume();
    // Pending notifications are lined up again, and the notifier looks at every
    // alert (grouping again those firing without a notification, re-arming escalations).
    if (Status resumed = notifications.resume(); !resumed) {
      log::error("cannot resume the notifications", {{"error", resumed.error().message}});
    }
    if (Status resumed = notifier.resume(); !resumed) {
      log::error("cannot resume the notifier", {{"error", resumed.error().message}});
    }
    if (!access.has_keys()) {
      auto bootstrapped = bootstrap_admin_key(api_keys, options.store.path);
      if (!bootstrapped) {
        return make_error(bootstrapped.error().code, fmt::format("cannot create the bootstrap admin key: {}",
                                                                 bootstrapped.error().message));
      }
      projections.wait_for_position(*bootstrapped, std::chrono::minutes(1));
    }
    return Status::success();
  };
  // Set when this node stops because it lost the lease for good (exit 1).
  static std::atomic<bool> lost_lease{false};
  const auto stop_for_lost_lease = [](const char* message, const std::string& node_id, const std::string& leader) {
    if (lost_lease.exchange(true)) return;
    log::error(message, {{"node_id", node_id},
                         {"leader", leader},
                         {"hint", "its service manager starts it again, as a follower that folds what the "
                                  "new leader wrote"}});
    ::kill(::getpid(), SIGTERM);
  };
  // A leader that lost its lease steps down: it writes nothing (the
  // storage's publish asks the membership), and answers what needs no write
  // from what it holds, until it takes the lease again unbroken or finds
  // another node leading.
  std::atomic<bool> stepped_down{false};
  std::thread promotion;
  std::thread readiness;
  std::unique_ptr<LastSeenFollower> last_seen_follower;
  std::atomic<bool> stopping{false};
  const auto announce_ready = [&api, &projections](std::uint64_t ready_at_position) {
    api.set_ready(ready_at_position);
    // Ready as /readyz says it: once the read models hold the log (and the bootstrap key).
    // (Waiters also run at a stop: then the position says it never got there.)
    projections.when_folded(ready_at_position, [&projections, ready_at_position] {
      if (projections.position() >= ready_at_position) notify_service_manager("READY=1\nSTATUS=serving");
    });
  };
  if (options.store_kind == StoreKind::nats) {
    if (Status joined = join_cluster(*membership, options, api); !joined) {
      log::error("cannot join the cluster", {{"error", joined.error().message}});
      stack.stop();
      return 1;
    }
    // Until it runs the fleet, this node takes the agents' last-seen times from the bucket the leader saves
    // them in, so that it answers the fleet's lists and counts itself.
    last_seen_follower = std::make_unique<LastSeenFollower>(storage.last_seen(), registry,
                                                            options.nats.last_seen_flush_interval);
    last_seen_follower->start();
    // Promotion runs apart from the membership's refresher, which must go on renewing the lease.
    LeaseEvents lease_events;
    lease_events.promoted = [&](bool unbroken) {
      if (stepped_down) {
        // Nobody else led: what this node holds is still the fleet's state.
        if (unbroken) {
          stepped_down = false;
          log::info("this node leads again and writes again: no other node led meanwhile",
                    {{"node_id", options.nats.node_id}});
        } else {
          stop_for_lost_lease("another node led while this one was cut off from NATS; muster stops",
                              options.nats.node_id, "");
        }
        return;
      }
      promotion = std::thread([&] {
            // From now on the times are this node's heartbeats.
            last_seen_follower->stop();
            // Whatever the last leader wrote is folded before this node acts on it.
            if (auto caught_up = store.head_position(); caught_up) {
              projections.wait_for_position(*caught_up, std::chrono::minutes(30));
            }
            if (Status led = lead(); !led) {
              log::error("cannot take over the fleet", {{"error", led.error().message}});
              ::kill(::getpid(), SIGTERM);
              return;
            }
            fleet_running = true;
            log::info("this node runs the fleet", {{"node_id", options.nats.node_id}});
          });
    };
    lease_events.demoted = [&] {
      stepped_down = true;
      log::warn("this node stepped down: it writes nothing until it takes the lease again, and answers "
                "what needs no write meanwhile",
                {{"node_id", options.nats.node_id}});
    };
    lease_events.led_elsewhere = [&](const std::string& leader_id) {
      if (stepped_down) {
        stop_for_lost_lease("another node leads now, and this one stepped down; muster stops",
                            options.nats.node_id, leader_id);
      }
    };
    lease_events.log_position = [&projections] { return projections.position(); };
    membership->start(std::move(lease_events));
    // Ready once this node runs the fleet or another one does (and takes what this one forwards).
    readiness = std::thread([&] {
      while (!stopping) {
        const auto leader = membership->leader();
        if (fleet_running || (leader && leader->node_id != options.nats.node_id)) {
          auto now = store.head_position();
          return announce_ready(now ? *now : *head);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  } else {
    if (Status led = lead(); !led) {
      log::error("cannot start", {{"error", led.error().message}});
      stack.stop();
      return 1;
    }
    fleet_running = true;
    announce_ready(std::max(*head, projections.position()));
  }

  const int received = wait_for_stop_signal(stop_signals);
  notify_service_manager("STOPPING=1\nSTATUS=stopping");
  log::info("stopping", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"},
                         {"storage_failed", storage_failed.load()},
                         {"lost_lease", lost_lease.load()}});
  stopping = true;
  if (readiness.joinable()) readiness.join();
  if (membership) membership->stop();
  if (last_seen_follower) last_seen_follower->stop();
  // After the services stop: a promotion still waiting on them then gives up.
  stack.stop();
  if (promotion.joinable()) promotion.join();
  log::info("stopped");
  return storage_failed || lost_lease ? 1 : 0;
}

}  // namespace muster::app
