#include "common/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace muster {
namespace {

std::optional<std::string> read_text(const char* path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// The boot time, in seconds since the epoch ("btime" in /proc/stat).
std::optional<std::uint64_t> boot_time_seconds() {
  std::ifstream file("/proc/stat");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("btime ", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return std::nullopt;
}

std::uint64_t count_open_fds() {
  DIR* directory = ::opendir("/proc/self/fd");
  if (directory == nullptr) return 0;
  std::uint64_t count = 0;
  while (const dirent* entry = ::readdir(directory)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(directory);
  return count > 0 ? count - 1 : 0;  // Not the descriptor listing the directory.
}

}  // namespace

std::optional<ProcessStats> read_process_stats() {
  const auto stat = read_text("/proc/self/stat");
  if (!stat) return std::nullopt;
  // The command name, in parentheses, may hold spaces: fields start after the last ')'.
  const auto name_end = stat->rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(name_end + 1));
  std::vector<std::string> values;
  for (std::string field; fields >> field;) values.push_back(field);
  // proc(5) numbers the fields from 1, the state (3) being the first after the name.
  const auto field = [&values](std::size_t number) { return std::stoull(values.at(number - 3)); };
  const auto boot = boot_time_seconds();
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page_bytes = ::sysconf(_SC_PAGESIZE);
  if (!boot || ticks <= 0 || page_bytes <= 0 || values.size() < 22) return std::nullopt;
  ProcessStats stats;
  try {
    stats.cpu_seconds = static_cast<double>(field(14) + field(15)) / static_cast<double>(ticks);
    stats.start_time_seconds =
        static_cast<double>(*boot) + static_cast<double>(field(22)) / static_cast<double>(ticks);
    stats.virtual_memory_bytes = field(23);
    stats.resident_memory_bytes = field(24) * static_cast<std::uint64_t>(page_bytes);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  stats.open_fds = count_open_fds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) stats.max_fds = limit.rlim_cur;
  return stats;
}

}  // namespace muster
