// /api/v1/cluster: the nodes sharing this fleet's log, which one leads, and
// how far each one's replica has read (its lag behind this node's head).
// One node without a cluster answers about itself.

#include "common/time_format.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

void cluster(const std::shared_ptr<Call>& call) {
  const auto head = call->services.store->head_position();
  if (!head) return call->reply_failure(head.error());
  const ClusterMembership* membership = call->services.cluster;
  if (membership == nullptr) {
    return call->reply_json(200, {{"store", "rocksdb"},
                                  {"log_position", *head},
                                  {"nodes", nlohmann::json::array()},
                                  {"leader", nullptr}});
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const NodeInfo& node : membership->nodes()) {
    nodes.push_back({{"node_id", node.node_id},
                     {"leader", node.leader},
                     {"operators_url", node.operators_url},
                     {"agents_url", node.agents_url},
                     {"log_position", node.log_position},
                     {"lag", *head > node.log_position ? *head - node.log_position : 0},
                     {"started_at", format_rfc3339(node.started_ms)},
                     {"refreshed_at", format_rfc3339(node.refreshed_ms)}});
  }
  const auto leader = membership->leader();
  call->reply_json(200, {{"store", "nats"},
                         {"node_id", membership->options().node_id},
                         {"leader", leader ? nlohmann::json(leader->node_id) : nlohmann::json(nullptr)},
                         {"log_position", *head},
                         {"lease_period_ms", membership->options().lease_period.count()},
                         {"nodes", std::move(nodes)}});
}

}  // namespace

void add_cluster(RouteTable& table) {
  table.add("GET", "/api/v1/cluster", any_node({cluster, Credential::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
