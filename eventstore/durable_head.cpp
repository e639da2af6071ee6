#include "eventstore/durable_head.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace muster {
namespace {

Error io_failure(std::string_view doing, const std::string& path) {
  return make_error(ErrorCode::io_error, fmt::format("cannot {} {}: {}", doing, path, std::strerror(errno)));
}

// Writes and fsyncs `text` to a new file at `path`.
bool write_synced(const std::string& path, const std::string& text) {
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (file < 0) return false;
  const bool written =
      ::write(file, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(file) == 0;
  return ::close(file) == 0 && written;
}

}  // namespace

DurableHeadMark::DurableHeadMark(const std::string& directory)
    : directory_(directory), path_(directory + "/" + kFileName) {}

Result<std::uint64_t> DurableHeadMark::read() const {
  std::ifstream file(path_);
  if (!file) return errno == ENOENT ? Result<std::uint64_t>(0) : io_failure("read", path_);
  std::uint64_t position = 0;
  if (!(file >> position)) {
    return make_error(ErrorCode::corruption, fmt::format("{} does not hold a log position", path_));
  }
  return position;
}

Status DurableHeadMark::write(std::uint64_t position) const {
  // A new file renamed over the old one: a crash leaves either mark whole.
  const std::string temporary = path_ + ".tmp";
  if (!write_synced(temporary, fmt::format("{}\n", position))) return io_failure("write", temporary);
  if (std::rename(temporary.c_str(), path_.c_str()) != 0) return io_failure("rename to", path_);
  const int directory = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory < 0) return io_failure("open", directory_);
  const bool synced = ::fsync(directory) == 0;
  ::close(directory);
  if (!synced) return io_failure("sync", directory_);
  return Status::success();
}

}  // namespace muster
