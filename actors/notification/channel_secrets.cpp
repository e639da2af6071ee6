#include "actors/notification/channel_secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/runtime/payload_codec.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

using nlohmann::json;

Status sync_path(const std::string& path, int flags) {
  const int file = ::open(path.c_str(), flags | O_CLOEXEC);
  if (file < 0) return make_error(ErrorCode::io_error, fmt::format("cannot open {}", path));
  const bool synced = ::fsync(file) == 0;
  ::close(file);
  if (!synced) return make_error(ErrorCode::io_error, fmt::format("cannot sync {}", path));
  return Status::success();
}

}  // namespace

ChannelSecrets::ChannelSecrets(std::string directory) : directory_(std::move(directory)) {}

std::string ChannelSecrets::path_of(std::string_view org, std::string_view channel_id) const {
  const std::string name =
      "channel-" + sha256_hex(fmt::format("{}/{}", org, channel_id)).substr(0, 32) + ".json";
  return directory_.empty() ? name : directory_ + "/" + name;
}

Status ChannelSecrets::put(std::string_view org, std::string_view channel_id, const ChannelSecret& secret) {
  const std::string path = path_of(org, channel_id);
  if (!directory_.empty()) {
    if (::mkdir(directory_.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(ErrorCode::io_error, fmt::format("cannot create {}", directory_));
    }
    const std::string text = json{
        {"url", secret.url},
        {"secret", secret.secret},
        {"headers", secret.headers},
        {"smtp_password",
         secret.smtp_password}}.dump(-1, ' ', false, json::error_handler_t::replace);
    const std::string temporary = path + ".tmp";
    const int file = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (file < 0) return make_error(ErrorCode::io_error, fmt::format("cannot create {}", temporary));
    const bool written = ::fchmod(file, 0600) == 0 &&
                         ::write(file, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                         ::fsync(file) == 0;
    ::close(file);
    if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
      ::unlink(temporary.c_str());
      return make_error(ErrorCode::io_error, fmt::format("cannot write {}", path));
    }
    if (Status synced = sync_path(directory_, O_RDONLY | O_DIRECTORY); !synced) return synced;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  cache_[path] = secret;
  return Status::success();
}

ChannelSecret ChannelSecrets::get(std::string_view org, std::string_view channel_id) const {
  const std::string path = path_of(org, channel_id);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = cache_.find(path);
    if (found != cache_.end()) return found->second;
  }
  ChannelSecret secret;
  if (directory_.empty()) return secret;
  std::ifstream file(path);
  if (!file) return secret;
  std::stringstream text;
  text << file.rdbuf();
  const json data = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!data.is_object()) return secret;
  (void)payload::read(data, "url", secret.url, payload::Presence::optional);
  (void)payload::read(data, "secret", secret.secret, payload::Presence::optional);
  (void)payload::read(data, "headers", secret.headers, payload::Presence::optional);
  (void)payload::read(data, "smtp_password", secret.smtp_password, payload::Presence::optional);
  std::lock_guard<std::mutex> lock(mutex_);
  cache_[path] = secret;
  return secret;
}

void ChannelSecrets::remove(std::string_view org, std::string_view channel_id) {
  const std::string path = path_of(org, channel_id);
  if (!directory_.empty()) ::unlink(path.c_str());
  std::lock_guard<std::mutex> lock(mutex_);
  cache_.erase(path);
}

}  // namespace muster
