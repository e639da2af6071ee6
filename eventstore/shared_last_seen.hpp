#pragma once
/// Internal to eventstore/: the NATS backend's last-seen times, kept twice.
/// In the node's replica, durable once `save` returns as `LastSeenStore`
/// promises; and in a JetStream key-value bucket every node reads, written
/// in the background every `flush_interval`, so that a new leader knows when
/// each agent was last heard from by the one before it.
///
/// The bucket holds 256 chunks (`c000`..`c255`, an agent's chunk by a hash
/// of its id), each a text list of "<agent> <time ms>" lines: a flush writes
/// the chunks its agents fall in, not one entry per heartbeat. A chunk is
/// updated by compare-and-set on its revision and only ever moves times
/// forward, so two writers (an old and a new leader for a moment) lose no
/// newer time. `for_each` gives the later of the two copies for each agent.
///
/// Thread safety: every method may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/result.hpp"
#include "eventstore/last_seen_store.hpp"
#include "eventstore/nats_connection.hpp"

struct __kvStore;

namespace muster {

class SharedLastSeenStore final : public LastSeenStore {
 public:
  /// Opens (creating if needed) `bucket` and starts the flusher. `local`
  /// must outlive the store (or its stop()).
  static Result<std::unique_ptr<SharedLastSeenStore>> open(std::shared_ptr<NatsConnection> connection,
                                                           LastSeenStore& local, const std::string& bucket,
                                                           int replicas, std::chrono::milliseconds flush_interval);
  ~SharedLastSeenStore() override;

  Status save(const std::vector<LastSeen>& entries) override;
  Status for_each(const std::function<void(std::string_view key, TimeMs time_ms)>& visit) const override;

  /// Writes what is pending to the bucket and stops the flusher. Idempotent.
  void stop();

 private:
  SharedLastSeenStore(std::shared_ptr<NatsConnection> connection, LastSeenStore& local, __kvStore* bucket,
                      std::chrono::milliseconds flush_interval);
  void run();
  /// Writes the pending times into their chunks; those it could not write stay pending.
  void flush();

  const std::shared_ptr<NatsConnection> connection_;
  LastSeenStore& local_;
  __kvStore* const bucket_;
  const std::chrono::milliseconds flush_interval_;

  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;                              ///< Guarded by mutex_.
  std::unordered_map<std::string, TimeMs> pending_;   ///< Guarded by mutex_.
  std::thread flusher_;
};

}  // namespace muster
