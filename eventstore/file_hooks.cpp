#include "eventstore/file_hooks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace muster {

Result<std::shared_ptr<TestFileHooks>> TestFileHooks::open(const std::string& ledger_path,
                                                           const std::string& fail_while_exists,
                                                           TimeMs sync_delay_ms) {
  int fd = -1;
  if (!ledger_path.empty()) {
    fd = ::open(ledger_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return make_error(ErrorCode::io_error,
                        fmt::format("cannot open sync ledger {}: {}", ledger_path, std::strerror(errno)));
    }
  }
  return std::shared_ptr<TestFileHooks>(new TestFileHooks(fd, fail_while_exists, sync_delay_ms));
}

TestFileHooks::TestFileHooks(int ledger_fd, std::string fail_while_exists, TimeMs sync_delay_ms)
    : ledger_fd_(ledger_fd),
      fail_while_exists_(std::move(fail_while_exists)),
      sync_delay_ms_(sync_delay_ms) {}

TestFileHooks::~TestFileHooks() {
  if (ledger_fd_ >= 0) ::close(ledger_fd_);
}

Status TestFileHooks::check_write(const std::string& path) {
  struct stat info {};
  if (!fail_while_exists_.empty() && ::stat(fail_while_exists_.c_str(), &info) == 0) {
    std::ifstream flag(fail_while_exists_);
    std::string kind;
    flag >> kind;
    return make_error(ErrorCode::io_error, fmt::format("injected disk fault writing {}", path),
                      kind == "eio" ? kInjectedIoError : "");
  }
  return Status::success();
}

void TestFileHooks::before_sync(const std::string& /*path*/) {
  if (sync_delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sync_delay_ms_));
}

// One write(2) per line with O_APPEND: the kernel has it once write returns,
// so the line survives SIGKILL of this process.
void TestFileHooks::record(const std::string& line) {
  if (ledger_fd_ < 0) return;
  [[maybe_unused]] const ssize_t written = ::write(ledger_fd_, line.data(), line.size());
}

void TestFileHooks::synced(const std::string& path, std::uint64_t size) {
  record(fmt::format("sync {} {}\n", size, path));
}

void TestFileHooks::renamed(const std::string& from, const std::string& to) {
  record(fmt::format("rename {} {}\n", from, to));
}

void TestFileHooks::deleted(const std::string& path) {
  record(fmt::format("delete {}\n", path));
}

Result<std::uint64_t> drop_unsynced_data(const std::string& directory, const std::string& ledger_path,
                                         const std::vector<std::string>& keep) {
  // Replays the ledger: the durable size of each path as things stand.
  std::map<std::string, std::uint64_t> durable;
  std::ifstream ledger(ledger_path);
  for (std::string line; std::getline(ledger, line);) {
    std::istringstream fields(line);
    std::string verb;
    fields >> verb;
    if (verb == "sync") {
      std::uint64_t size = 0;
      std::string path;
      fields >> size >> std::ws;
      std::getline(fields, path);
      durable[path] = size;
    } else if (verb == "rename") {
      std::string from, to;
      fields >> from >> to;
      const auto found = durable.find(from);
      if (found != durable.end()) {
        durable[to] = found->second;
        durable.erase(from);
      }
    } else if (verb == "delete") {
      std::string path;
      fields >> std::ws;
      std::getline(fields, path);
      durable.erase(path);
    }
  }
  std::uint64_t dropped = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    const bool kept = std::find(keep.begin(), keep.end(), name) != keep.end();
    if (!entry.is_regular_file() || kept || entry.path() == ledger_path) continue;
    const std::string path = entry.path().string();
    const auto found = durable.find(path);
    const std::uint64_t keep_size = found == durable.end() ? 0 : found->second;
    const std::uint64_t size = entry.file_size();
    if (size <= keep_size) continue;
    if (::truncate(path.c_str(), static_cast<off_t>(keep_size)) != 0) {
      return make_error(ErrorCode::io_error,
                        fmt::format("cannot truncate {}: {}", path, std::strerror(errno)));
    }
    dropped += size - keep_size;
  }
  if (error)
    return make_error(ErrorCode::io_error, fmt::format("cannot list {}: {}", directory, error.message()));
  return dropped;
}

}  // namespace muster
