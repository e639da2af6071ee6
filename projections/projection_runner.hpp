#pragma once
/// Keeps the read models (`FleetProjection`, `AccessProjection`) up to date: follows the log from position 1
/// (catch-up, then live) and folds each batch in. Readers that need their own
/// write reflected wait, bounded, with `wait_for_position`.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "eventstore/event_store.hpp"
#include "eventstore/log_follower.hpp"
#include "projections/access_projection.hpp"
#include "projections/fleet_projection.hpp"

namespace muster {

class ProjectionRunner {
 public:
  /// `store` must outlive the runner.
  explicit ProjectionRunner(const EventStore& store);
  ~ProjectionRunner();
  ProjectionRunner(const ProjectionRunner&) = delete;
  ProjectionRunner& operator=(const ProjectionRunner&) = delete;

  /// Starts following the log on a thread of its own.
  void start();
  /// Stops following. Idempotent; the destructor calls it.
  void stop();

  /// Folds everything written so far on the calling thread (tests, rebuilds).
  void catch_up();

  /// Waits until the projection has folded `position`, at most `timeout`;
  /// true if it has.
  bool wait_for_position(std::uint64_t position, std::chrono::milliseconds timeout) const;

  const FleetProjection& fleet() const { return fleet_; }
  const AccessProjection& access() const { return access_; }
  AccessProjection& access() { return access_; }

  /// The organization of what `stream` holds (an agent, an API key, an
  /// enrollment token) as far as folded; nullopt if unknown.
  std::optional<std::string> organization_of(const std::string& stream) const;

 private:
  void fold(const std::vector<Event>& batch);

  FleetProjection fleet_;
  AccessProjection access_;
  mutable std::mutex position_mutex_;
  mutable std::condition_variable position_advanced_;
  LogFollower follower_;
};

}  // namespace muster
