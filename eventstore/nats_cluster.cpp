#include "eventstore/nats_cluster.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace muster {
namespace {

constexpr const char* kLeaseKey = "leader";
constexpr const char* kTermKey = "term";

TimeMs wall_now_ms() {
  return SystemClock().now_ms();
}

std::string random_instance() {
  std::random_device device;
  return fmt::format("{:08x}{:08x}", device(), device());
}

/// The entry's value, or nullopt when the key has none (absent, deleted or expired).
Result<std::optional<std::pair<std::string, std::uint64_t>>> get_entry(kvStore* bucket, const std::string& key) {
  kvEntry* entry = nullptr;
  const natsStatus status = kvStore_Get(&entry, bucket, key.c_str());
  if (status == NATS_NOT_FOUND) return std::optional<std::pair<std::string, std::uint64_t>>();
  if (status != NATS_OK) return make_error(ErrorCode::unavailable, nats_error_text(status));
  std::pair<std::string, std::uint64_t> found{
      std::string(static_cast<const char*>(kvEntry_Value(entry)), static_cast<std::size_t>(kvEntry_ValueLen(entry))),
      kvEntry_Revision(entry)};
  kvEntry_Destroy(entry);
  return std::optional<std::pair<std::string, std::uint64_t>>(std::move(found));
}

std::optional<NodeInfo> parse_node(const std::string& text, std::string* instance = nullptr) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  NodeInfo node;
  node.node_id = json.value("node_id", "");
  node.operators_url = json.value("operators_url", "");
  node.agents_url = json.value("agents_url", "");
  node.leader = json.value("leader", false);
  node.log_position = json.value("log_position", std::uint64_t{0});
  node.started_ms = json.value("started_ms", TimeMs{0});
  node.refreshed_ms = json.value("refreshed_ms", TimeMs{0});
  if (instance != nullptr) *instance = json.value("instance", "");
  return node;
}

/// The file naming a node's last run in its data directory.
std::filesystem::path last_run_file(const ClusterOptions& options) {
  return std::filesystem::path(options.data_dir) / "NODE_RUN";
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<std::unique_ptr<ClusterMembership>> ClusterMembership::open(std::shared_ptr<NatsConnection> connection,
                                                                   ClusterOptions options) {
  auto nodes = connection->open_bucket(options.bucket_prefix + "_nodes", options.replicas, options.lease_period);
  if (!nodes) return nodes.error();
  auto lease = connection->open_bucket(options.bucket_prefix + "_leader", options.replicas, options.lease_period);
  if (!lease) {
    kvStore_Destroy(*nodes);
    return lease.error();
  }
  auto terms = connection->open_bucket(options.bucket_prefix + "_terms", options.replicas, std::chrono::milliseconds(0));
  if (!terms) {
    kvStore_Destroy(*nodes);
    kvStore_Destroy(*lease);
    return terms.error();
  }
  auto membership = std::unique_ptr<ClusterMembership>(new ClusterMembership(
      std::move(connection), std::move(options), *nodes, *lease, *terms, random_instance()));
  // A live entry of this id is another node's, unless this data directory's
  // last run wrote it (a restart after a crash, within the lease period).
  auto existing = get_entry(membership->nodes_bucket_, membership->options_.node_id);
  if (!existing) return existing.error();
  if (*existing) {
    std::string instance;
    const auto node = parse_node((*existing)->first, &instance);
    if (instance != read_text(last_run_file(membership->options_))) {
      return make_error(ErrorCode::conflict,
                        fmt::format("another node with id {:?} is running (operators' listener {}, refreshed "
                                    "{} ms ago): every node needs its own --node-id",
                                    membership->options_.node_id, node ? node->operators_url : "unknown",
                                    node ? wall_now_ms() - node->refreshed_ms : 0));
    }
  }
  return membership;
}

Status ClusterMembership::join(std::string operators_url, std::string agents_url) {
  options_.operators_url = std::move(operators_url);
  options_.agents_url = std::move(agents_url);
  {
    std::ofstream run(last_run_file(options_), std::ios::trunc);
    run << instance_;
    if (!run.flush()) {
      return make_error(ErrorCode::io_error, fmt::format("cannot write {}", last_run_file(options_).string()));
    }
  }
  if (Status written = write_entry(); !written) return written.error();
  read_nodes();
  return Status::success();
}

ClusterMembership::ClusterMembership(std::shared_ptr<NatsConnection> connection, ClusterOptions options,
                                     kvStore* nodes, kvStore* lease, kvStore* terms, std::string instance)
    : connection_(std::move(connection)),
      options_(std::move(options)),
      nodes_bucket_(nodes),
      lease_bucket_(lease),
      terms_bucket_(terms),
      instance_(std::move(instance)),
      started_ms_(wall_now_ms()) {}

ClusterMembership::~ClusterMembership() {
  stop();
  kvStore_Destroy(nodes_bucket_);
  kvStore_Destroy(lease_bucket_);
  kvStore_Destroy(terms_bucket_);
}

void ClusterMembership::start(LeaseEvents events) {
  events_ = std::move(events);
  refresher_ = std::thread([this] { run(); });
}

void ClusterMembership::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  bool was_leader = false;
  {
    std::lock_guard lock(mutex_);
    was_leader = std::exchange(leader_, false);
  }
  // Handing the lease back lets another node lead at its next poll rather than after a period.
  if (was_leader) (void)kvStore_Delete(lease_bucket_, kLeaseKey);
  // Only an entry this run wrote: a refused join must not remove the live node's.
  if (entry_revision_ != 0) (void)kvStore_Delete(nodes_bucket_, options_.node_id.c_str());
}

bool ClusterMembership::is_leader() const {
  std::lock_guard lock(mutex_);
  return leader_;
}

std::optional<NodeInfo> ClusterMembership::leader() const {
  std::lock_guard lock(mutex_);
  for (const auto& node : nodes_) {
    if (node.node_id == leader_id_) return node;
  }
  return std::nullopt;
}

std::vector<NodeInfo> ClusterMembership::nodes() const {
  std::lock_guard lock(mutex_);
  return nodes_;
}

void ClusterMembership::run() {
  // Polled often enough that a free lease is taken soon after it expires,
  // and an entry is renewed three times within its lifetime.
  const auto interval = std::max(std::chrono::milliseconds(100), options_.lease_period / 5);
  // A leader whose renewal failed tries again soon: when a NATS server dies,
  // the lease's bucket elects a new leader within seconds, and the renewal
  // must get through then, before the entry's lifetime runs out.
  const auto retry = std::max(std::chrono::milliseconds(50), options_.lease_period / 40);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const bool renewal_failed = !refresh();
    lock.lock();
    stop_cv_.wait_for(lock, renewal_failed ? retry : interval, [&] { return stopping_; });
  }
}

bool ClusterMembership::refresh() {
  if (is_leader()) {
    // Only the lease counts until it is renewed: the node's entry and the
    // listing wait (each could take a whole request timeout while NATS fails over).
    if (!renew_lease()) return false;
  } else {
    try_lease();
  }
  if (Status written = write_entry(); !written) {
    log::warn("cannot refresh this node's cluster entry", {{"error", written.error().message}});
  }
  read_nodes();
  return true;
}

Status ClusterMembership::write_entry() {
  nlohmann::json entry = {{"node_id", options_.node_id},
                          {"instance", instance_},
                          {"operators_url", options_.operators_url},
                          {"agents_url", options_.agents_url},
                          {"leader", is_leader()},
                          {"log_position", events_.log_position ? events_.log_position() : 0},
                          {"started_ms", started_ms_},
                          {"refreshed_ms", wall_now_ms()}};
  const std::string text = entry.dump();
  std::uint64_t revision = 0;
  const natsStatus status = kvStore_Put(&revision, nodes_bucket_, options_.node_id.c_str(), text.data(),
                                        static_cast<int>(text.size()));
  if (status != NATS_OK) return make_error(ErrorCode::unavailable, nats_error_text(status));
  entry_revision_ = revision;
  return Status::success();
}

void ClusterMembership::try_lease() {
  const std::string value = options_.node_id;
  std::uint64_t revision = 0;
  // The entry's lifetime runs from when NATS stored it, at the latest when it was sent.
  const auto sent = std::chrono::steady_clock::now();
  if (kvStore_Create(&revision, lease_bucket_, kLeaseKey, value.data(), static_cast<int>(value.size())) != NATS_OK) {
    return;  // Held by another node (or NATS is away): try again at the next poll.
  }
  const auto unbroken = take_term();
  if (!unbroken || std::chrono::steady_clock::now() - sent >= options_.lease_period) {
    // Without a term of its own a node must not lead: hand the lease back
    // (unless it ran out meanwhile) and try again at the next poll.
    if (!unbroken) log::warn("cannot raise the leaders' term", {{"error", unbroken.error().message}});
    (void)kvStore_Delete(lease_bucket_, kLeaseKey);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    leader_ = true;
    lease_revision_ = revision;
    lease_renewed_ = sent;
    leader_id_ = options_.node_id;
  }
  log::info("this node leads the cluster", {{"node_id", options_.node_id}, {"term", term_}, {"unbroken", *unbroken}});
  if (events_.promoted) events_.promoted(*unbroken);
}

Result<bool> ClusterMembership::take_term() {
  auto entry = get_entry(terms_bucket_, kTermKey);
  if (!entry) return entry.error();
  std::uint64_t term = 0;
  std::string holder;
  if (*entry) {
    std::istringstream text((*entry)->first);
    text >> term >> holder;
  }
  if (term_ != 0 && term == term_ && holder == options_.node_id) return true;
  const std::string value = fmt::format("{} {}", term + 1, options_.node_id);
  std::uint64_t revision = 0;
  // Compare-and-set: of two nodes raising the same term, one fails.
  const natsStatus status =
      *entry ? kvStore_Update(&revision, terms_bucket_, kTermKey, value.data(), static_cast<int>(value.size()),
                              (*entry)->second)
             : kvStore_Create(&revision, terms_bucket_, kTermKey, value.data(), static_cast<int>(value.size()));
  if (status != NATS_OK) return make_error(ErrorCode::unavailable, nats_error_text(status));
  term_ = term + 1;
  return false;
}

bool ClusterMembership::renew_lease() {
  std::uint64_t revision = 0;
  std::uint64_t last = 0;
  std::chrono::steady_clock::time_point renewed;
  {
    std::lock_guard lock(mutex_);
    last = lease_revision_;
    renewed = lease_renewed_;
  }
  const std::string value = options_.node_id;
  const auto sent = std::chrono::steady_clock::now();
  natsStatus status =
      kvStore_Update(&revision, lease_bucket_, kLeaseKey, value.data(), static_cast<int>(value.size()), last);
  if (status != NATS_OK && status != NATS_TIMEOUT && status != NATS_NO_RESPONDERS &&
      std::chrono::steady_clock::now() - renewed < options_.lease_period) {
    // The lease is not where this node left it. Measured with nats-server
    // 2.9.10 when the server leading the lease's stream is killed: a renewal
    // whose answer was lost is stored anyway (and retries then miss its
    // revision), or the key is gone (2.9 can lose a key of a bucket whose
    // entries expire on a replica that caught up after a restart,
    // nats-server#5054). Still this node's (node ids are unique among live
    // nodes): the next renewal builds on that revision. Gone: this node,
    // within its period, takes it again unless another node did.
    auto entry = get_entry(lease_bucket_, kLeaseKey);
    if (entry && *entry && (*entry)->first == value) {
      std::lock_guard lock(mutex_);
      lease_revision_ = (*entry)->second;
    } else if (entry && !*entry) {
      status = kvStore_Create(&revision, lease_bucket_, kLeaseKey, value.data(), static_cast<int>(value.size()));
    }
  }
  bool lost = false;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (status == NATS_OK) {
      lease_revision_ = revision;
      lease_renewed_ = sent;
    } else if (now - renewed >= options_.lease_period) {
      // Whether NATS is away or another node took an expired lease, another
      // node may lead by now: this one must not write any more.
      leader_ = false;
      lost = true;
    }
  }
  if (lost) {
    log::error("this node lost the cluster's lease", {{"node_id", options_.node_id}, {"error", nats_error_text(status)}});
    if (events_.demoted) events_.demoted();
  } else if (status != NATS_OK && !renewal_failing_) {
    log::warn("cannot renew the cluster's lease; retrying", {{"error", nats_error_text(status)}});
  } else if (status == NATS_OK && renewal_failing_) {
    log::info("renewed the cluster's lease again", {{"node_id", options_.node_id}});
  }
  renewal_failing_ = status != NATS_OK;
  return status == NATS_OK;
}

void ClusterMembership::read_nodes() {
  // What cannot be read keeps its last view: while NATS fails over, a stale
  // view of live nodes and leader forwards to the right node, an empty one to none.
  kvKeysList keys{};
  std::optional<std::vector<NodeInfo>> nodes;
  // Bounded: without a timeout nats.c can wait for the listing for minutes
  // when a server goes away, and this thread must go on renewing the lease.
  kvWatchOptions listing;
  kvWatchOptions_Init(&listing);
  listing.Timeout = std::max<std::int64_t>(100, options_.lease_period.count() / 3);
  if (kvStore_Keys(&keys, nodes_bucket_, &listing) == NATS_OK) {
    nodes.emplace();
    for (int index = 0; index < keys.Count; ++index) {
      auto entry = get_entry(nodes_bucket_, keys.Keys[index]);
      if (!entry || !*entry) continue;
      if (auto node = parse_node((*entry)->first)) nodes->push_back(std::move(*node));
    }
    kvKeysList_Destroy(&keys);
    std::sort(nodes->begin(), nodes->end(),
              [](const NodeInfo& a, const NodeInfo& b) { return a.node_id < b.node_id; });
  }
  const auto lease = get_entry(lease_bucket_, kLeaseKey);
  std::string elsewhere;
  {
    std::lock_guard lock(mutex_);
    if (nodes) nodes_ = std::move(*nodes);
    if (leader_) {
      leader_id_ = options_.node_id;
    } else if (lease) {
      leader_id_ = *lease ? (*lease)->first : std::string();
      if (leader_id_ != options_.node_id) elsewhere = leader_id_;
    }
  }
  if (!elsewhere.empty() && events_.led_elsewhere) events_.led_elsewhere(elsewhere);
}

}  // namespace muster
