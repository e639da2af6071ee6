#pragma once
/// A notification channel's decisions, and the channel as the runtime runs it.

#include <string>
#include <variant>
#include <vector>

#include "actors/notification/channel_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

inline constexpr const char* kChannelNotFound = "CHANNEL_NOT_FOUND";
Error channel_not_found();

struct CreateChannel {
  NotificationChannelCreated created;
};
struct DeleteChannel {};
using ChannelCommand = std::variant<CreateChannel, DeleteChannel>;

/// NotificationChannelCreated; nothing for a channel that exists (ids are fresh).
Result<std::vector<NotificationChannelEvent>> decide_create(const NotificationChannel& channel,
                                                            const CreateChannel& command);
/// NotificationChannelDeleted. Refused: `not_found` / CHANNEL_NOT_FOUND (none, or deleted).
Result<std::vector<NotificationChannelEvent>> decide_delete(const NotificationChannel& channel);

struct NotificationChannelAggregate {
  static constexpr std::string_view kKind = kNotificationChannelKind;
  using State = NotificationChannel;
  using Payload = NotificationChannelEvent;
  using Command = ChannelCommand;
  using Context = runtime::DecideContext;

  /// `id` is "<org>/<channel_id>".
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) { return channel_stream(state.org, state.channel_id); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
