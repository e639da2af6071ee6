#pragma once
/// Where notification channels keep what must never reach the log, an
/// answer or a log line: the webhook's URL whole (its path may carry a
/// token), signing secret and header values, the SMTP password. One file per channel under `<data>/secrets/`,
/// mode 0600, written and fsynced (the file and the directory) before the channel's event is appended, so a
/// channel in the log always finds its secret. A file whose channel was never created (a crash between the
/// two) is harmless: nothing reads it.
///
/// Thread safety: every method may be called from any thread.

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "actors/notification/senders.hpp"
#include "common/result.hpp"

namespace muster {

class ChannelSecrets {
 public:
  /// `directory` empty: kept in memory only (tests without a data directory).
  explicit ChannelSecrets(std::string directory);

  /// Writes the channel's secret durably. Errors: `io_error`.
  Status put(std::string_view org, std::string_view channel_id, const ChannelSecret& secret);
  /// The channel's secret; empty if it has none (or its file is gone).
  ChannelSecret get(std::string_view org, std::string_view channel_id) const;
  /// Forgets it (its file too).
  void remove(std::string_view org, std::string_view channel_id);

 private:
  std::string path_of(std::string_view org, std::string_view channel_id) const;

  const std::string directory_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, ChannelSecret> cache_;  ///< By path (or key without a directory).
};

}  // namespace muster
