#pragma once
/// What the read models that keep one record per aggregate instance (bulk
/// jobs, commands, rollouts) share: a snapshot of one entry per record,
/// "<prefix><id>", written for the records changed since the last one; and
/// pages of records newest first.
///
/// The models keep their own lock; these helpers take it as told.

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "actors/organization.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/log.hpp"
#include "common/result.hpp"
#include "eventstore/snapshot_store.hpp"

namespace muster {

/// What a keyed model remembers between snapshots; guarded by its lock.
struct SnapshotMarks {
  std::set<std::string> changed;         ///< Ids of records changed since the last snapshot.
  std::uint64_t snapshot_position = 0;   ///< The position the last snapshot reflects.
};

/// Writes the records `marks.changed` names, each as `encode(id)` under
/// "<prefix><id>", with `position` (the model's folded position) into
/// `scope`. Nothing when nothing changed. Entries and position are taken
/// under `mutex` held exclusively, so they are one moment of the model; the
/// write happens without it. A failed write keeps the ids for the next try.
template <class Encode>
Status save_changed_records(SnapshotStore& store, const char* scope, std::string_view prefix,
                            std::shared_mutex& mutex, SnapshotMarks& marks, const std::uint64_t& position,
                            Encode encode) {
  std::vector<SnapshotEntry> entries;
  std::set<std::string> written;
  std::uint64_t at = 0;
  {
    std::unique_lock<std::shared_mutex> lock(mutex);
    if (marks.changed.empty() && position == marks.snapshot_position) return Status::success();
    entries.reserve(marks.changed.size());
    for (const std::string& id : marks.changed) entries.push_back({std::string(prefix) + id, encode(id)});
    written.swap(marks.changed);
    at = position;
  }
  Status saved = store.write(scope, entries, at);
  std::unique_lock<std::shared_mutex> lock(mutex);
  if (!saved) {
    marks.changed.insert(written.begin(), written.end());
    return saved;
  }
  marks.snapshot_position = std::max(marks.snapshot_position, at);
  return saved;
}

/// A snapshot read back: the position it reflects and its records.
template <class Record>
struct KeyedSnapshot {
  std::uint64_t position = 0;
  std::vector<Record> records;
};

/// Reads the snapshot of `scope`: each entry must be "<prefix><id>" and
/// `decode(bytes)` (a Result<Record>) a record that exists with that id
/// (`id_of(record)`). Nullopt when there is none; also when it is past
/// `head_position` or an entry is damaged, after a warning naming `what`
/// ("the rollouts'") and clearing the scope, so the model folds the whole
/// log instead. Errors: the store's.
template <class Record, class Decode, class IdOf>
Result<std::optional<KeyedSnapshot<Record>>> load_keyed_records(SnapshotStore& store, const char* scope,
                                                                std::string_view prefix, std::uint64_t head_position,
                                                                const char* what, Decode decode, IdOf id_of) {
  auto position = store.position(scope);
  if (!position) return position.error();
  if (!*position) return std::optional<KeyedSnapshot<Record>>();
  KeyedSnapshot<Record> snapshot;
  snapshot.position = **position;
  std::string damage;
  if (snapshot.position > head_position) {
    damage = fmt::format("it reflects position {}, past the log's head {}", snapshot.position, head_position);
  } else {
    Status read = store.for_each(scope, [&](std::string_view key, std::string_view value) {
      Result<Record> record = key.substr(0, prefix.size()) == prefix
                                  ? decode(value)
                                  : Result<Record>(payload_error("an entry of unknown kind"));
      if (!record || id_of(*record) != key.substr(prefix.size()) || !record->exists()) {
        damage = record ? "an entry under another record's key" : record.error().message;
        return false;
      }
      snapshot.records.push_back(std::move(*record));
      return true;
    });
    if (!read) return read.error();
  }
  if (!damage.empty()) {
    log::warn(fmt::format("ignoring {} snapshot; folding the whole log instead", what), {{"reason", damage}});
    if (Status cleared = store.clear(scope); !cleared) return cleared.error();
    return std::optional<KeyedSnapshot<Record>>();
  }
  return std::optional<KeyedSnapshot<Record>>(std::move(snapshot));
}

/// A page of records newest first.
template <class Record>
struct KeyedPage {
  std::vector<Record> records;
  std::optional<std::string> next_after;  ///< The last one's id when more follow.
};

/// The records of orgs `org_scope` covers, newest first by `by_creation`
/// (created position -> id), at most `limit`, after the record `after` (a
/// cursor: an id a page answered). Errors: `invalid_argument` (field
/// "cursor") for a cursor that names no record the caller may see.
/// `id_of(record)` gives a record's id. Call with the model's lock held.
template <class Record, class IdOf>
Result<KeyedPage<Record>> newest_first(const std::map<std::string, Record>& records,
                                       const std::map<std::uint64_t, std::string>& by_creation,
                                       std::string_view org_scope, std::size_t limit,
                                       const std::optional<std::string>& after, IdOf id_of) {
  auto next = by_creation.rbegin();
  if (after) {
    const auto found = records.find(*after);
    if (found == records.end() || !org_visible(org_scope, found->second.org)) {
      return invalid_field("cursor", "is not a cursor this server issued");
    }
    next = std::make_reverse_iterator(by_creation.find(found->second.created_position));
  }
  KeyedPage<Record> page;
  for (; next != by_creation.rend(); ++next) {
    const Record& record = records.at(next->second);
    if (!org_visible(org_scope, record.org)) continue;
    if (page.records.size() == limit) {
      page.next_after = id_of(page.records.back());
      break;
    }
    page.records.push_back(record);
  }
  return page;
}

}  // namespace muster
