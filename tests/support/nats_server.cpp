#include "tests/support/nats_server.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <httplib.h>

#include "tests/support/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/ports.hpp"

namespace muster::testing {
namespace {

bool is_executable(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

// $MUSTER_NATS_SERVER, Debian's /usr/sbin (not in every user's PATH), then PATH.
std::string nats_server_binary() {
  const char* chosen = std::getenv("MUSTER_NATS_SERVER");
  if (chosen != nullptr && *chosen != '\0') {
    if (is_executable(chosen)) return chosen;
    throw std::runtime_error(std::string("MUSTER_NATS_SERVER is not an executable: ") + chosen);
  }
  if (is_executable("/usr/sbin/nats-server")) return "/usr/sbin/nats-server";
  const char* path = std::getenv("PATH");
  std::string directories = path != nullptr ? path : "";
  std::size_t begin = 0;
  while (begin <= directories.size()) {
    const std::size_t end = std::min(directories.find(':', begin), directories.size());
    const std::string candidate = directories.substr(begin, end - begin) + "/nats-server";
    if (end > begin && is_executable(candidate)) return candidate;
    begin = end + 1;
  }
  throw std::runtime_error(
      "nats-server not found (Debian: apt-get install nats-server, or set MUSTER_NATS_SERVER)");
}

// nats-server's config syntax accepts JSON strings.
std::string quoted(const std::string& text) {
  return nlohmann::json(text).dump();
}

std::string loopback(int port) {
  return quoted("127.0.0.1:" + std::to_string(port));
}

// How many times a server whose ports were picked for it gets new ones when
// another process bound one first.
constexpr int kPortAttempts = 3;

}  // namespace

NatsServer::NatsServer(NatsServerOptions options)
    : options_(std::move(options)), log_path_(work_dir_.file("nats-server.log")) {
  if (options_.store_dir.empty()) {
    owned_store_ = std::make_unique<TempDir>();
    options_.store_dir = owned_store_->path();
  }
  const bool pick_ports = options_.port == 0 && options_.monitor_port == 0;
  for (int attempt = 1;; ++attempt) {
    port_ = options_.port;
    monitor_port_ = options_.monitor_port;
    if (pick_ports) {
      const std::vector<int> ports = unused_loopback_ports(2);
      port_ = ports[0];
      monitor_port_ = ports[1];
    }
    // The log is appended to across attempts: only this attempt's part counts.
    const std::size_t log_before = log_text().size();
    try {
      start();
      return;
    } catch (const std::runtime_error&) {
      if (!pick_ports || attempt == kPortAttempts ||
          log_text().find("address already in use", log_before) == std::string::npos) {
        throw;
      }
    }
  }
}

NatsServer::~NatsServer() {
  kill9();
}

std::string NatsServer::url() const {
  return "nats://127.0.0.1:" + std::to_string(port_);
}

void NatsServer::write_config() const {
  std::ofstream config(work_dir_.file("nats-server.conf"), std::ios::trunc);
  config << "server_name: " << quoted(options_.name) << "\n"
         << "listen: " << loopback(port_) << "\n"
         << "http: " << loopback(monitor_port_) << "\n"
         << "jetstream {\n  store_dir: " << quoted(options_.store_dir) << "\n}\n";
  if (!options_.cluster_name.empty()) {
    config << "cluster {\n  name: " << quoted(options_.cluster_name) << "\n"
           << "  listen: " << loopback(options_.cluster_port) << "\n  routes: [\n";
    for (const int route : options_.route_ports) {
      config << "    " << quoted("nats-route://127.0.0.1:" + std::to_string(route)) << "\n";
    }
    config << "  ]\n}\n";
  }
  if (!config) throw std::runtime_error("cannot write " + work_dir_.file("nats-server.conf"));
}

void NatsServer::start() {
  const std::string binary = nats_server_binary();
  write_config();
  ChildOutput output;
  output.out_path = log_path_;
  output.err_path = log_path_;
  output.append = true;
  output.die_with_parent = true;
  pid_ = spawn_process(binary, {"-c", work_dir_.file("nats-server.conf")}, output);

  bool exited = false;
  const std::string ready_path = options_.wait_until_healthy ? "/healthz" : "/healthz?js-enabled-only=true";
  const bool ready = eventually(
      [&] {
        if (!running()) return exited = true;
        return monitor_get(ready_path).status == 200;
      },
      options_.ready_timeout);
  if (!ready || exited) {
    const bool was_running = pid_ > 0;
    kill9();
    throw std::runtime_error("nats-server " + options_.name +
                             (was_running ? " was not ready in time" : " exited at start") + "; log:\n" +
                             log_text());
  }
}

bool NatsServer::running() {
  if (pid_ <= 0) return false;
  if (!exit_status_if_exited(pid_)) return true;
  pid_ = -1;
  return false;
}

void NatsServer::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_for_exit(pid_);
  pid_ = -1;
}

int NatsServer::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int code = wait_for_exit(pid_);
  pid_ = -1;
  return code;
}

void NatsServer::restart() {
  terminate();
  start();
}

MonitorAnswer NatsServer::monitor_get(const std::string& path) const {
  MonitorAnswer answer;
  if (monitor_port_ <= 0) return answer;
  httplib::Client client("127.0.0.1", monitor_port_);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(5, 0);
  const httplib::Result result = client.Get(path);
  if (!result) return answer;
  answer.status = result->status;
  answer.body = result->body;
  answer.json = nlohmann::json::parse(answer.body, nullptr, false);
  return answer;
}

bool NatsServer::healthy() const {
  return monitor_get("/healthz").status == 200;
}

std::string NatsServer::meta_leader() const {
  const MonitorAnswer jsz = monitor_get("/jsz");
  if (jsz.status != 200 || !jsz.json.is_object()) return "";
  const auto meta = jsz.json.find("meta_cluster");
  if (meta == jsz.json.end() || !meta->is_object()) return "";
  const auto leader = meta->find("leader");
  return leader != meta->end() && leader->is_string() ? leader->get<std::string>() : "";
}

std::string NatsServer::log_text() const {
  return read_file(log_path_);
}

NatsCluster::NatsCluster(NatsClusterOptions options) {
  if (options.size < 1) throw std::invalid_argument("a NATS cluster needs at least one server");
  const std::vector<int> route_ports = unused_loopback_ports(options.size);
  for (int i = 0; i < options.size; ++i) {
    NatsServerOptions server;
    server.name = options.cluster_name + "-" + std::to_string(i);
    server.cluster_name = options.cluster_name;
    server.cluster_port = route_ports[i];
    server.route_ports = route_ports;
    server.ready_timeout = options.ready_timeout;
    // A member is healthy only once a meta leader exists, which needs its
    // peers: wait for each to be up, then for the cluster as a whole.
    server.wait_until_healthy = false;
    servers_.push_back(std::make_unique<NatsServer>(server));
  }
  if (!wait_until_healthy(options.ready_timeout)) {
    throw std::runtime_error("the NATS cluster did not elect a JetStream meta leader in time; logs:\n" +
                             log_text());
  }
}

std::string NatsCluster::url() const {
  std::string urls;
  for (const auto& server : servers_) urls += (urls.empty() ? "" : ",") + server->url();
  return urls;
}

std::optional<std::size_t> NatsCluster::leader_index() {
  std::string leader;
  for (const auto& server : servers_) {
    if (!server->running()) continue;
    const std::string seen = server->meta_leader();
    if (seen.empty() || (!leader.empty() && seen != leader)) return std::nullopt;
    leader = seen;
  }
  return running_index_of(leader);
}

std::optional<std::size_t> NatsCluster::stream_leader_index(const std::string& stream) {
  for (const auto& server : servers_) {
    if (!server->running()) continue;
    const MonitorAnswer jsz = server->monitor_get("/jsz?streams=true");
    if (jsz.status != 200 || !jsz.json.is_object()) continue;
    for (const auto& account : jsz.json.value("account_details", nlohmann::json::array())) {
      for (const auto& detail : account.value("stream_detail", nlohmann::json::array())) {
        if (detail.value("name", "") != stream) continue;
        return running_index_of(detail.value("cluster", nlohmann::json::object()).value("leader", ""));
      }
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> NatsCluster::running_index_of(const std::string& name) {
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i]->name() == name && servers_[i]->running()) return i;
  }
  return std::nullopt;
}

bool NatsCluster::wait_until_healthy(std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        for (const auto& server : servers_) {
          if (server->running() && !server->healthy()) return false;
        }
        return leader_index().has_value();
      },
      timeout);
}

std::string NatsCluster::log_text() const {
  std::string logs;
  for (const auto& server : servers_) logs += "--- " + server->name() + " ---\n" + server->log_text();
  return logs;
}

}  // namespace muster::testing
