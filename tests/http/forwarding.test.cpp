// Which address a forwarded request counts as on the leader (the end-to-end
// case with real nodes is in tests/e2e/cluster.test.cpp; these are the URL
// forms loopback cannot show).

#include <doctest/doctest.h>

#include "http/forwarding.hpp"

using namespace muster;
using namespace muster::http;

namespace {

RequestHead forwarded(std::string peer, std::vector<std::pair<std::string, std::string>> fields) {
  RequestHead head;
  head.remote_address = std::move(peer);
  for (auto& [name, value] : fields) head.headers.add(std::move(name), std::move(value));
  return head;
}

NodeInfo node_at(std::string operators_url, std::string agents_url) {
  NodeInfo node;
  node.node_id = "n";
  node.operators_url = std::move(operators_url);
  node.agents_url = std::move(agents_url);
  return node;
}

}  // namespace

TEST_CASE("a forwarded request counts as its client only when a node of the cluster forwarded it") {
  const std::vector<NodeInfo> nodes = {node_at("https://10.0.0.5:8080", "https://10.0.0.5:4320"),
                                       node_at("http://[fd00::7]:8080", "http://[fd00::8]:4320")};
  const auto from_node = [](std::string peer) {
    return forwarded(std::move(peer), {{"X-Muster-Forwarded-By", "n"}, {"X-Forwarded-For", "192.0.2.1"}});
  };
  CHECK(forwarded_client_address(from_node("10.0.0.5"), nodes) == "192.0.2.1");
  CHECK(forwarded_client_address(from_node("fd00::7"), nodes) == "192.0.2.1");
  CHECK(forwarded_client_address(from_node("fd00::8"), nodes) == "192.0.2.1");
  // Not a node: its own address stands.
  CHECK_FALSE(forwarded_client_address(from_node("10.0.0.6"), nodes));
  CHECK_FALSE(forwarded_client_address(from_node("10.0.0.5"), {}));
  // Not marked forwarded, no address, or two of them.
  CHECK_FALSE(forwarded_client_address(forwarded("10.0.0.5", {{"X-Forwarded-For", "192.0.2.1"}}), nodes));
  CHECK_FALSE(forwarded_client_address(forwarded("10.0.0.5", {{"X-Muster-Forwarded-By", "n"}}), nodes));
  CHECK_FALSE(forwarded_client_address(
      forwarded("10.0.0.5", {{"X-Muster-Forwarded-By", "n"}, {"X-Forwarded-For", "192.0.2.1"},
                             {"x-forwarded-for", "192.0.2.2"}}),
      nodes));
}
