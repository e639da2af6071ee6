#pragma once
/// Test-only fault hook: makes an agent's actor throw on its next command, so
/// tests can watch the runtime rebuild it. Wire `check` into
/// `AgentServiceOptions::TEST_before_command`, and `armed` into
/// `TEST_to_actor` (a heartbeat that changes nothing never reaches the
/// actor otherwise). Thread-safe.

#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

namespace muster {

class CrashInjector {
 public:
  /// The next command handled by `agent_id`'s actor throws.
  void arm(const std::string& agent_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_.insert(agent_id);
  }

  /// True while a crash is armed for `agent_id`.
  bool armed(const std::string& agent_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return armed_.count(agent_id) > 0;
  }

  /// Throws once per `arm` for `agent_id`; does nothing otherwise.
  void check(const std::string& agent_id) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (armed_.erase(agent_id) == 0) return;
    }
    throw std::runtime_error("injected crash (test hook)");
  }

 private:
  std::mutex mutex_;
  std::set<std::string> armed_;
};

}  // namespace muster
