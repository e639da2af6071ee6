#pragma once
/// A request and its answer, independent of any transport: the Beast
/// listeners build a `Request` from the wire, OpAMP and tests build one
/// directly, and all of them reach the same routes (http/api.hpp).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request_parsing.hpp"
#include "http/stream_channel.hpp"

namespace muster::http {

/// Which listener a request came in on (README "Two listeners").
enum class Listener {
  operators,  ///< --listen: the whole API.
  agents,     ///< --agent-listen: only the routes agents call.
};

/// Header fields in the order received; names compared case-insensitively.
class Headers {
 public:
  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  /// The first value of `name`; nullopt when absent.
  std::optional<std::string_view> find(std::string_view name) const;
  /// How many fields are named `name`.
  std::size_t count(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

/// Everything before the body: enough to route, authenticate and refuse a
/// request without reading (or parsing) what it carries.
struct RequestHead {
  std::string method;
  std::string path;  ///< The target without its query.
  QueryParams query;
  Headers headers;
  std::string remote_address;
  Listener listener = Listener::operators;
  /// True when the request announces a body (Content-Length > 0 or chunked).
  bool has_body = false;
  /// True when the request asks to become a WebSocket (RFC 6455 4.1).
  bool websocket = false;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  /// Set for a streamed answer (http/stream_channel.hpp): the body is what
  /// the source gives, written as it comes until the stream ends; `body`
  /// is not sent. A transport that cannot stream never gets one (only
  /// routes served on the Beast listeners answer so).
  std::shared_ptr<StreamSource> stream;
};

/// Delivers a response; called exactly once, from any thread.
using Reply = std::function<void(Response)>;

/// True if `a` and `b` are equal ignoring ASCII case.
bool equals_ignoring_case(std::string_view a, std::string_view b);

/// `text` without the spaces and tabs (HTTP's optional whitespace) around it.
std::string_view trim_whitespace(std::string_view text);

/// The items of a comma-separated header value (RFC 9110 5.6.1), each
/// trimmed; empty items left out.
std::vector<std::string_view> split_header_list(std::string_view value);

/// True if an Accept-Encoding value admits gzip: a `gzip` (any case) or `*`
/// coding without a zero weight.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace muster::http
