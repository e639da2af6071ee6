#include "eventstore/event_store.hpp"

#include <future>

namespace muster {

Result<AppendResult> EventStore::append(std::string stream, std::uint64_t expected_version,
                                        std::vector<NewEvent> events) {
  std::promise<Result<AppendResult>> outcome;
  auto outcome_ready = outcome.get_future();
  append_async(std::move(stream), expected_version, std::move(events),
               [&outcome](Result<AppendResult> result) { outcome.set_value(std::move(result)); });
  return outcome_ready.get();
}

}  // namespace muster
