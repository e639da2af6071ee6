#include "eventstore/event_store.hpp"

#include <algorithm>
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

// For a backend that cannot read in place: whole events, a bounded batch at a time.
Result<std::uint64_t> EventStore::scan_log(std::uint64_t from_position, std::size_t max_count,
                                           const EventVisitor& visit) const {
  constexpr std::size_t kBatchSize = 1024;
  std::uint64_t next_position = from_position;
  for (std::size_t visited = 0; visited < max_count;) {
    const std::size_t wanted = std::min(kBatchSize, max_count - visited);
    auto batch = read_log(next_position, wanted);
    if (!batch) return batch.error();
    for (const Event& event : *batch) {
      ++visited;
      next_position = event.position + 1;
      if (!visit(view_of(event))) return next_position;
    }
    if (batch->size() < wanted) break;
  }
  return next_position;
}

}  // namespace muster
