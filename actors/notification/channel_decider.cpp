#include "actors/notification/channel_decider.hpp"

namespace muster {

Error channel_not_found() {
  return make_error(ErrorCode::not_found, "no notification channel with this id", kChannelNotFound);
}

Result<std::vector<NotificationChannelEvent>> decide_create(const NotificationChannel& channel,
                                                            const CreateChannel& command) {
  if (channel.exists()) return std::vector<NotificationChannelEvent>{};
  return std::vector<NotificationChannelEvent>{command.created};
}

Result<std::vector<NotificationChannelEvent>> decide_delete(const NotificationChannel& channel) {
  if (!channel.exists() || channel.deleted) return channel_not_found();
  return std::vector<NotificationChannelEvent>{NotificationChannelDeleted{}};
}

NotificationChannel NotificationChannelAggregate::initial_state(const std::string& id) {
  NotificationChannel channel;
  if (const auto parts = split_org_scoped_id(id)) {
    channel.org = std::string(parts->org);
    channel.channel_id = std::string(parts->name);
  } else {
    channel.channel_id = id;
  }
  return channel;
}

Result<std::vector<NotificationChannelEvent>> NotificationChannelAggregate::decide(const State& state,
                                                                                   const Command& command,
                                                                                   Context& /*context*/) {
  if (const auto* create = std::get_if<CreateChannel>(&command)) return decide_create(state, *create);
  return decide_delete(state);
}

}  // namespace muster
