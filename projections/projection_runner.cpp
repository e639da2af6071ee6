#include "projections/projection_runner.hpp"

#include "actors/credential_records.hpp"
#include "common/log.hpp"

namespace muster {

ProjectionRunner::ProjectionRunner(const EventStore& store)
    : follower_(store, 1, [this](const std::vector<Event>& batch) { fold(batch); }) {}

ProjectionRunner::~ProjectionRunner() {
  stop();
}

void ProjectionRunner::start() {
  follower_.start();
}

void ProjectionRunner::stop() {
  follower_.stop();
}

void ProjectionRunner::catch_up() {
  follower_.deliver_available();
}

void ProjectionRunner::fold(const std::vector<Event>& batch) {
  // A bad event is skipped rather than stalling: it must not freeze every read.
  for (const Status& folded : {access_.apply(batch), fleet_.apply(batch)}) {
    if (!folded) log::error("projection skipped an event", {{"error", folded.error().message}});
  }
  std::lock_guard<std::mutex> lock(position_mutex_);
  position_advanced_.notify_all();
}

std::optional<std::string> ProjectionRunner::organization_of(const std::string& stream) const {
  if (is_agent_stream(stream)) return fleet_.org_of(stream);
  if (const auto key_id = record_id_of(stream, kApiKeyStreamPrefix)) {
    const auto key = access_.key(*key_id);
    return key ? std::optional<std::string>(key->org) : std::nullopt;
  }
  if (const auto token_id = record_id_of(stream, kEnrollmentStreamPrefix)) {
    const auto token = access_.enrollment_token(*token_id);
    return token ? std::optional<std::string>(token->org) : std::nullopt;
  }
  return std::nullopt;
}

bool ProjectionRunner::wait_for_position(std::uint64_t position, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(position_mutex_);
  return position_advanced_.wait_for(lock, timeout, [&] { return fleet_.position() >= position; });
}

}  // namespace muster
