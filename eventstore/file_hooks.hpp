#pragma once
/// Hooks into the event store's file writes, so tests can make the disk fail
/// and simulate power loss against the real binary. Production runs with none.
///
/// `TestFileHooks` is what `muster serve --enable-test-hooks` offers:
/// - a sync ledger: after every successful sync, rename or delete, one line is
///   appended to a ledger file with write(2), which survives SIGKILL. After
///   killing the server, `drop_unsynced_data` cuts every file back to what was
///   last synced, as a power loss would (file contents only: directory entries
///   are taken as durable once made, which RocksDB makes durable itself with
///   directory fsyncs before it relies on them).
/// - a fault switch: while a given file exists, every write and sync fails
///   as on a full disk (ENOSPC), or with a plain I/O error (EIO) when the file
///   says "eio".
/// - a slow disk: every sync takes a given extra time, to saturate the writer.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

/// The `reason` of a `check_write` error that stands for EIO rather than ENOSPC.
inline constexpr const char* kInjectedIoError = "INJECTED_EIO";

class FileHooks {
 public:
  virtual ~FileHooks() = default;
  /// Before every append or sync of `path`; an error fails that operation.
  virtual Status check_write(const std::string& path) = 0;
  /// Before every sync (it may take its time, as a slow disk would).
  virtual void before_sync(const std::string& path) = 0;
  /// After `path` was synced with its first `size` bytes.
  virtual void synced(const std::string& path, std::uint64_t size) = 0;
  virtual void renamed(const std::string& from, const std::string& to) = 0;
  virtual void deleted(const std::string& path) = 0;
};

class TestFileHooks final : public FileHooks {
 public:
  /// Either path may be empty (that hook is off). Errors: `io_error` if the
  /// ledger cannot be opened.
  static Result<std::shared_ptr<TestFileHooks>> open(const std::string& ledger_path,
                                                     const std::string& fail_while_exists,
                                                     TimeMs sync_delay_ms);
  ~TestFileHooks() override;

  Status check_write(const std::string& path) override;
  void before_sync(const std::string& path) override;
  void synced(const std::string& path, std::uint64_t size) override;
  void renamed(const std::string& from, const std::string& to) override;
  void deleted(const std::string& path) override;

 private:
  TestFileHooks(int ledger_fd, std::string fail_while_exists, TimeMs sync_delay_ms);
  void record(const std::string& line);

  int ledger_fd_ = -1;
  std::string fail_while_exists_;
  TimeMs sync_delay_ms_ = 0;
};

/// Cuts every file under `directory` named in the ledger back to its last
/// synced size, and empties files never synced; files the ledger says were
/// deleted or renamed away are left as they are. Files named in `keep` (muster's
/// own, which it fsyncs itself) are not touched. Returns how many bytes were
/// dropped. Errors: `io_error`.
Result<std::uint64_t> drop_unsynced_data(const std::string& directory, const std::string& ledger_path,
                                         const std::vector<std::string>& keep);

}  // namespace muster
