#pragma once
/// Who caused a command: recorded in the `meta` of every event it appends,
/// so `muster replay` answers who did what, when, from where.

#include <string>

namespace muster {

struct RequestContext {
  std::string request_id;
  std::string source_address;
  /// "key:<key_id>" (operator), "agent:<agent_id>", "enrollment:<token_id>";
  /// empty when unauthenticated.
  std::string principal;
  /// What caused it when no request did ("heartbeat_timeout", "bootstrap", "cli").
  std::string cause;
};

/// The meta JSON of the events `context` causes: {request_id?, source?, principal?, cause?}.
std::string event_meta(const RequestContext& context);

}  // namespace muster
