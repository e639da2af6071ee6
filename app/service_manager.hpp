#pragma once
/// Tells a service manager how muster's start and stop go: systemd's
/// `Type=notify` protocol (sd_notify(3)), one datagram of `KEY=value` lines
/// to the unix socket $NOTIFY_SOCKET names ('@' first: the abstract
/// namespace). Written here rather than linking libsystemd for one datagram.
/// Without $NOTIFY_SOCKET every call does nothing, so a plain `muster serve`
/// is unaffected.
///
/// muster sends `READY=1` once /readyz answers ready (recovery done, the
/// listeners open, the read models holding the log), `STATUS=...` lines on
/// the way, and `STOPPING=1` when a stop begins (packaging/muster.service).
///
/// Thread safety: may be called from any thread.

#include <string_view>

namespace muster::app {

/// Sends `state` (e.g. "READY=1\nSTATUS=serving") to the service manager,
/// if there is one. Failures are logged once and otherwise ignored: a
/// service manager that cannot be told must not stop the server.
void notify_service_manager(std::string_view state);

}  // namespace muster::app
