// /api/v1/agents/{id}/metrics, /api/v1/metrics/names, /api/v1/metrics/aggregate:
// the metrics history (eventstore/metrics/metric_history.hpp) read back, for
// one agent or across the agents of a group or with given labels.
//
// Times (`from`, `to`) are RFC 3339 or milliseconds since the epoch; the
// range is [from, to); `to` defaults to just after now, `from` to an hour
// before `to`. `step` is a duration
// ("30s", "5m") or milliseconds; it is rounded up to a multiple of the
// resolution of the level that answers (the finest whose retention covers
// `from`: raw, 1m, 1h, 1d), and defaults to the range over 500 (at least the
// resolution, at least 1 s). A read gives at most 10000 points; an aggregate
// spans at most 10000 agents.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/agent/agent_decider.hpp"
#include "actors/config/config_files.hpp"
#include "common/time_format.hpp"
#include "eventstore/metrics/metric_name.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr TimeMs kDefaultSpanMs = 3'600'000;
constexpr TimeMs kDefaultPoints = 500;
constexpr TimeMs kMaxPoints = 10'000;
constexpr std::size_t kMaxAggregateAgents = 10'000;

Invalid invalid_parameter(const std::string& name, const std::string& why) {
  return Invalid{"invalid query parameter '" + name + "'", "INVALID_PARAMETER", json{{name, why}}};
}

std::optional<std::string> single(const QueryParams& query, const std::string& name) {
  const auto found = query.find(name);
  if (found == query.end()) return std::nullopt;
  return found->second;
}

/// Digits only: a number of milliseconds.
std::optional<TimeMs> parse_milliseconds(const std::string& text) {
  if (text.empty() || text.size() > 15 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return static_cast<TimeMs>(std::strtoll(text.c_str(), nullptr, 10));
}

const char* level_name(MetricLevel level) {
  switch (level) {
    case MetricLevel::raw:
      return "raw";
    case MetricLevel::minute:
      return "1m";
    case MetricLevel::hour:
      return "1h";
    case MetricLevel::day:
      return "1d";
  }
  return "raw";
}

/// What every read asks: a metric's name, a range and a step.
struct RangeQuery {
  std::string name;
  TimeMs from_ms = 0;
  TimeMs to_ms = 0;
  TimeMs step_ms = 0;
  MetricLevel level = MetricLevel::raw;
};

Parsed<RangeQuery> parse_range_query(const QueryParams& query, const MetricHistory& history, TimeMs now_ms) {
  RangeQuery range;
  const auto name = single(query, "name");
  if (!name || !is_valid_metric_name(*name)) {
    return invalid_parameter("name", std::string("required, a metric name: ") + kMetricNameRule);
  }
  range.name = *name;
  auto read_time = [](const std::string& text) -> std::optional<TimeMs> {
    if (auto ms = parse_milliseconds(text)) return ms;
    if (auto parsed = parse_rfc3339(text)) return *parsed;
    return std::nullopt;
  };
  // Now included: a heartbeat answered this millisecond is in the range.
  range.to_ms = now_ms + 1;
  if (const auto to = single(query, "to")) {
    const auto parsed = read_time(*to);
    if (!parsed) return invalid_parameter("to", "must be an RFC 3339 time or milliseconds since the epoch");
    range.to_ms = *parsed;
  }
  range.from_ms = range.to_ms - kDefaultSpanMs;
  if (const auto from = single(query, "from")) {
    const auto parsed = read_time(*from);
    if (!parsed) return invalid_parameter("from", "must be an RFC 3339 time or milliseconds since the epoch");
    range.from_ms = *parsed;
  }
  if (range.from_ms >= range.to_ms) return invalid_parameter("from", "must be before to");
  range.level = history.level_covering(range.from_ms);
  const TimeMs resolution = metric_level_resolution_ms(range.level);
  const TimeMs span = range.to_ms - range.from_ms;
  if (const auto step = single(query, "step")) {
    std::optional<TimeMs> parsed = parse_milliseconds(*step);
    if (!parsed) {
      if (auto duration = parse_duration_ms(*step)) parsed = *duration;
    }
    if (!parsed || *parsed <= 0) return invalid_parameter("step", "must be a duration such as \"30s\" or \"5m\", or milliseconds");
    range.step_ms = *parsed;
  } else {
    range.step_ms = std::max<TimeMs>((span + kDefaultPoints - 1) / kDefaultPoints, 1000);
  }
  range.step_ms = (range.step_ms + resolution - 1) / resolution * resolution;
  if (span / range.step_ms > kMaxPoints) {
    return invalid_parameter("step", "gives more than 10000 points over the range: take a larger step or a shorter range");
  }
  return range;
}

json range_json(const RangeQuery& range) {
  return {{"name", range.name},
          {"from", format_rfc3339(range.from_ms)},
          {"to", format_rfc3339(range.to_ms)},
          {"resolution", level_name(range.level)},
          {"step", range.step_ms}};
}

// GET /api/v1/agents/{id}/metrics?name=&from=&to=&step= -> {agent_id, name,
// from, to, resolution, step (ms), points: [[time (ms), min, max, avg, last]]}.
void agent_metrics(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  if (!call->require_agent_id(agent_id)) return;
  MetricHistory& history = *call->services.metrics;
  auto parsed = parse_range_query(call->head.query, history, call->services.timers->now_ms());
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  call->when_projected([call, agent_id, range = std::get<RangeQuery>(std::move(parsed))] {
    const auto agent = call->services.registry->find(agent_id);
    if (!agent || !org_visible(call->principal.org, *agent->state.org)) {
      return call->reply_error(404, "no agent with this id", kAgentNotFound);
    }
    auto points =
        call->services.metrics->read(agent_id, range.name, range.level, range.from_ms, range.to_ms, range.step_ms);
    if (!points) return call->reply_failure(points.error());
    json body = range_json(range);
    body["agent_id"] = agent_id.to_string();
    json rows = json::array();
    for (const auto& point : *points) {
      rows.push_back(json::array({point.time_ms, point.summary.min, point.summary.max, point.summary.average(),
                                  point.summary.last}));
    }
    body["points"] = std::move(rows);
    call->reply_json(200, body);
  });
}

// GET /api/v1/metrics/names?org= -> {org, names: [...]}: the names heard in the organization.
void metric_names(const std::shared_ptr<Call>& call) {
  std::string org;
  if (!call->require_org(org)) return;
  call->reply_json(200, {{"org", org}, {"names", call->services.metrics->names(org)}});
}

enum class AggregateFn { avg, max, p95 };

// GET /api/v1/metrics/aggregate?name=&group=|label=k=v&from=&to=&step=&fn=avg|max|p95&org=
// -> {org, name, fn, from, to, resolution, step, agents (matched), points:
// [[time (ms), value, agents reporting]]}. avg and p95 are over the agents'
// averages in each step, max over their maxima.
void aggregate_metrics(const std::shared_ptr<Call>& call) {
  std::string org;
  if (!call->require_org(org)) return;
  const QueryParams& query = call->head.query;
  auto parsed = parse_range_query(query, *call->services.metrics, call->services.timers->now_ms());
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  AggregateFn fn = AggregateFn::avg;
  const std::string fn_text = single(query, "fn").value_or("avg");
  if (fn_text == "max") {
    fn = AggregateFn::max;
  } else if (fn_text == "p95") {
    fn = AggregateFn::p95;
  } else if (fn_text != "avg") {
    return call->reply_invalid(invalid_parameter("fn", "must be avg, max or p95"));
  }
  AgentFilter filter;
  filter.org = org;
  const auto group = single(query, "group");
  if (group && !is_valid_config_name(*group)) {
    return call->reply_invalid(invalid_parameter("group", "must be a group name: [a-z0-9][a-z0-9._-]{0,62}"));
  }
  // label=k=v, repeatable; or labels=k=v,k2=v2.
  std::vector<std::string> label_texts;
  const auto labels = query.equal_range("label");
  for (auto label = labels.first; label != labels.second; ++label) label_texts.push_back(label->second);
  if (const auto joined = single(query, "labels")) {
    std::size_t start = 0;
    while (start <= joined->size()) {
      const auto comma = joined->find(',', start);
      label_texts.push_back(joined->substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  for (const auto& text : label_texts) {
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0) {
      return call->reply_invalid(invalid_parameter("labels", "must be key=value pairs, comma-separated"));
    }
    filter.labels.emplace_back(text.substr(0, equals), text.substr(equals + 1));
  }
  call->when_projected([call, org, fn, fn_text, group, filter = std::move(filter),
                        range = std::get<RangeQuery>(std::move(parsed))]() mutable {
    if (group) {
      const ConfigModel* model = call->services.config_model;
      filter.also = [model, name = *group](const AgentState& state) { return model->in_group(state.agent_id, name); };
    }
    const AgentPage page = call->services.registry->list(filter, kMaxAggregateAgents + 1, std::nullopt);
    if (page.total > kMaxAggregateAgents) {
      return call->reply_invalid(invalid_parameter(group ? "group" : "labels",
                                                   "matches more than 10000 agents: narrow it down"));
    }
    // Per step: each reporting agent's average (avg, p95) or maximum (max).
    std::map<TimeMs, std::vector<double>> values;
    for (const auto& agent : page.agents) {
      auto points = call->services.metrics->read(agent.state.agent_id, range.name, range.level, range.from_ms,
                                                 range.to_ms, range.step_ms);
      if (!points) return call->reply_failure(points.error());
      for (const auto& point : *points) {
        values[point.time_ms].push_back(fn == AggregateFn::max ? point.summary.max : point.summary.average());
      }
    }
    json rows = json::array();
    for (auto& [time_ms, each] : values) {
      double value = 0;
      if (fn == AggregateFn::avg) {
        for (double one : each) value += one;
        value /= static_cast<double>(each.size());
      } else if (fn == AggregateFn::max) {
        value = *std::max_element(each.begin(), each.end());
      } else {
        // Nearest rank: the smallest value at least 95% of the agents do not exceed.
        std::sort(each.begin(), each.end());
        const auto rank = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(each.size())));
        value = each[std::max<std::size_t>(rank, 1) - 1];
      }
      rows.push_back(json::array({time_ms, value, each.size()}));
    }
    json body = range_json(range);
    body["org"] = org;
    body["fn"] = fn_text;
    body["agents"] = page.agents.size();
    if (group) body["group"] = *group;
    body["points"] = std::move(rows);
    call->reply_json(200, body);
  });
}

}  // namespace

void add_metrics(RouteTable& table) {
  table.add("GET", "/api/v1/agents/{agent_id}/metrics", {agent_metrics, Credential::api_key, Role::viewer});
  table.add("GET", "/api/v1/metrics/names", {metric_names, Credential::api_key, Role::viewer});
  table.add("GET", "/api/v1/metrics/aggregate", {aggregate_metrics, Credential::api_key, Role::viewer});
}

}  // namespace muster::http::routes
