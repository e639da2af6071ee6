#pragma once
/// Matches a method and path against routes such as
/// "/api/v1/agents/{agent_id}/heartbeat", telling apart an unknown path (404)
/// from a known path with another method (405, with the methods allowed).

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace muster::http {

using PathParams = std::map<std::string, std::string>;

template <class Handler>
class Router {
 public:
  /// `pattern` segments in braces capture the segment under that name.
  void add(std::string method, std::string_view pattern, Handler handler) {
    routes_.push_back(Route{std::move(method), std::string(pattern), split(pattern), std::move(handler)});
  }

  /// Routes added; they are numbered 0 to size() - 1 in the order added.
  std::size_t size() const { return routes_.size(); }
  /// The method and pattern route `index` was added with.
  const std::string& method(std::size_t index) const { return routes_.at(index).method; }
  const std::string& pattern(std::size_t index) const { return routes_.at(index).pattern; }
  /// Its handler (what it takes and who may call it), valid while the router lives.
  const Handler& handler(std::size_t index) const { return routes_.at(index).handler; }

  struct Match {
    const Handler* handler = nullptr;  ///< Null when nothing matched.
    std::size_t index = 0;             ///< The matched route's number, when `handler` is set.
    PathParams params;
    std::vector<std::string> allowed_methods;  ///< Set when only the method differs.
  };

  /// Of the patterns that match `path`, only those with the most literal
  /// segments count: "/agents/register" is that route (405 for GET), not
  /// "/agents/{agent_id}" with an agent id of "register".
  Match find(std::string_view method, std::string_view path) const {
    Match match;
    const std::vector<std::string> segments = split(path);
    std::size_t best_literals = 0;
    for (std::size_t index = 0; index < routes_.size(); ++index) {
      const Route& route = routes_[index];
      PathParams params;
      if (!matches(route.segments, segments, params)) continue;
      const std::size_t literals = route.segments.size() - params.size();
      if (literals < best_literals) continue;
      if (literals > best_literals) {
        best_literals = literals;
        match = Match{};
      }
      if (match.handler == nullptr && (route.method == method || (method == "HEAD" && route.method == "GET"))) {
        match.handler = &route.handler;
        match.index = index;
        match.params = std::move(params);
      } else if (route.method != method) {
        match.allowed_methods.push_back(route.method);
      }
    }
    if (match.handler != nullptr) match.allowed_methods.clear();
    return match;
  }

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };

  // "/a/b/" and "/a/b" are the same path; empty segments in between are kept
  // so that "/a//b" matches nothing.
  static std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> segments;
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (!path.empty() && path.back() == '/') path.remove_suffix(1);
    if (path.empty()) return segments;
    std::size_t start = 0;
    while (true) {
      const std::size_t slash = path.find('/', start);
      segments.emplace_back(path.substr(start, slash - start));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    return segments;
  }

  static bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                      PathParams& params) {
    if (pattern.size() != path.size()) return false;
    for (std::size_t index = 0; index < pattern.size(); ++index) {
      const std::string& expected = pattern[index];
      if (expected.size() > 2 && expected.front() == '{' && expected.back() == '}') {
        if (path[index].empty()) return false;
        params[expected.substr(1, expected.size() - 2)] = path[index];
      } else if (expected != path[index]) {
        return false;
      }
    }
    return true;
  }

  std::vector<Route> routes_;
};

}  // namespace muster::http
