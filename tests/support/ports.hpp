#pragma once
// Loopback ports for helper programs (nats-server, an SMTP server, Prometheus)
// that must be told their port before they start, and for "nothing listens
// here" addresses.
//
// Why not the kernel's choice (bind to port 0): that port comes from the
// ephemeral range, the one every outgoing connection's local port is drawn
// from. Between the pick and the helper's bind, or while a helper is down for
// a restart on the same port, a client's connection (a NATS route, muster
// reconnecting) can take it, and the helper then fails with "address already
// in use": a NATS route did so in CI's benchmark run. These ports lie below
// that range, where only listeners bind.

#include <vector>

namespace muster::testing {

/// `count` distinct TCP ports on 127.0.0.1, each free when chosen (bound at
/// once, then released: another test's pick can still collide, at random,
/// among some twenty thousand ports), below the ephemeral range that
/// /proc/sys/net/ipv4/ip_local_port_range gives. Throws std::runtime_error
/// if there are not that many.
std::vector<int> unused_loopback_ports(int count);

/// One such port.
int unused_loopback_port();

}  // namespace muster::testing
