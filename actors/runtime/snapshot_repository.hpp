#pragma once
/// A repository that keeps a snapshot of each instance beside the log, for
/// aggregates whose streams grow long (an enrollment token admitting a
/// rollout of a million agents): activation reads the snapshot and folds
/// only the events after it. A snapshot that cannot be read is ignored (the
/// whole stream is folded instead: never a wrong state).
///
/// The aggregate adds a codec for its state:
///   static std::string encode_state(const State& state);
///   static Result<State> decode_state(std::string_view bytes);

#include <string>

#include "actors/runtime/aggregate_host.hpp"
#include "common/log.hpp"
#include "eventstore/snapshot_store.hpp"

namespace muster::runtime {

template <class Aggregate>
class SnapshotRepository : public Repository<Aggregate> {
 public:
  using State = typename Aggregate::State;
  using Context = typename Aggregate::Context;

  /// Saves an instance's state each time its version passes a multiple of
  /// `every` events. `store` must outlive the repository.
  SnapshotRepository(SnapshotStore& store, std::uint64_t every)
      : store_(store), every_(every > 0 ? every : 1), scope_("aggregate:" + std::string(Aggregate::kKind)) {}

  Result<State> load(const std::string& id) override {
    auto saved = store_.get(scope_, id);
    if (!saved) return saved.error();
    if (!*saved) return Aggregate::initial_state(id);
    auto state = Aggregate::decode_state(**saved);
    if (!state || Aggregate::stream_of(*state) != Aggregate::stream_of(Aggregate::initial_state(id))) {
      log::warn("ignoring an unreadable snapshot; folding the whole stream",
                {{"kind", Aggregate::kKind}, {"id", id}});
      return Aggregate::initial_state(id);
    }
    return state;
  }

  void end(const State& state, const Context& /*context*/, std::size_t appended) override {
    if (appended == 0 || state.version / every_ == (state.version - appended) / every_) return;
    if (Status saved = store_.write(scope_, {{id_of(state), Aggregate::encode_state(state)}}, std::nullopt); !saved) {
      // Only start-up time is at stake: the log has everything.
      log::warn("cannot save a snapshot", {{"kind", Aggregate::kKind}, {"error", saved.error().message}});
    }
  }

  const std::string& scope() const { return scope_; }

 private:
  static std::string id_of(const State& state) {
    const std::string stream = Aggregate::stream_of(state);
    return stream.substr(stream.find(':') + 1);
  }

  SnapshotStore& store_;
  const std::uint64_t every_;
  const std::string scope_;
};

}  // namespace muster::runtime
