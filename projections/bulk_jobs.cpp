#include "projections/bulk_jobs.hpp"

#include <mutex>

#include <fmt/format.h>

#include "actors/organization.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

constexpr std::string_view kJobEntry = "job:";

}  // namespace

Status BulkJobs::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    if (event.position <= position_) continue;
    position_ = event.position;
    const auto job_id = stream_id_of(event.stream, kBulkJobKind);
    if (!job_id) continue;
    BulkJob& job = jobs_[std::string(*job_id)];
    const bool existed = job.exists();
    Status folded = muster::apply(job, event);
    if (!folded) {
      if (first_failure.ok()) first_failure = folded;
      if (!job.exists()) jobs_.erase(std::string(*job_id));
      continue;
    }
    if (!existed) by_creation_.emplace(job.created_position, job.job_id);
    changed_.insert(job.job_id);
  }
  return first_failure;
}

std::uint64_t BulkJobs::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return position_;
}

std::optional<BulkJob> BulkJobs::find(const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = jobs_.find(job_id);
  if (found == jobs_.end()) return std::nullopt;
  return found->second;
}

Result<BulkJobPage> BulkJobs::list(std::string_view org_scope, std::size_t limit,
                                   const std::optional<std::string>& after) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto next = by_creation_.rbegin();
  if (after) {
    const auto found = jobs_.find(*after);
    if (found == jobs_.end() || !org_visible(org_scope, found->second.org)) {
      return invalid_field("cursor", "is not a cursor this server issued");
    }
    next = std::make_reverse_iterator(by_creation_.find(found->second.created_position));
  }
  BulkJobPage page;
  for (; next != by_creation_.rend(); ++next) {
    const BulkJob& job = jobs_.at(next->second);
    if (!org_visible(org_scope, job.org)) continue;
    if (page.jobs.size() == limit) {
      page.next_after = page.jobs.back().job_id;
      break;
    }
    page.jobs.push_back(job);
  }
  return page;
}

std::vector<BulkJob> BulkJobs::unfinished() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<BulkJob> running;
  for (const auto& [position, job_id] : by_creation_) {
    const BulkJob& job = jobs_.at(job_id);
    if (!job.finished) running.push_back(job);
  }
  return running;
}

Status BulkJobs::save_snapshot(SnapshotStore& store) {
  std::vector<SnapshotEntry> entries;
  std::set<std::string> written;
  std::uint64_t position = 0;
  {
    // Exclusive: the entries and the position are one moment of the model.
    std::unique_lock<std::shared_mutex> lock(mutex_);
    if (changed_.empty() && position_ == snapshot_position_) return Status::success();
    for (const std::string& job_id : changed_) {
      entries.push_back({std::string(kJobEntry) + job_id, encode_bulk_job(jobs_.at(job_id))});
    }
    written.swap(changed_);
    position = position_;
  }
  Status saved = store.write(kSnapshotScope, entries, position);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (!saved) {
    changed_.insert(written.begin(), written.end());
    return saved;
  }
  snapshot_position_ = std::max(snapshot_position_, position);
  return saved;
}

Result<std::uint64_t> BulkJobs::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto position = store.position(kSnapshotScope);
  if (!position) return position.error();
  if (!*position) return std::uint64_t{0};
  std::map<std::string, BulkJob> jobs;
  std::string damage;
  if (**position > head_position) {
    damage = fmt::format("it reflects position {}, past the log's head {}", **position, head_position);
  } else {
    Status read = store.for_each(kSnapshotScope, [&](std::string_view key, std::string_view value) {
      auto job = key.substr(0, kJobEntry.size()) == kJobEntry
                     ? decode_bulk_job(value)
                     : Result<BulkJob>(payload_error("an entry of unknown kind"));
      if (!job || job->job_id != key.substr(kJobEntry.size()) || !job->exists()) {
        damage = job ? "an entry under another job's key" : job.error().message;
        return false;
      }
      jobs.emplace(job->job_id, std::move(*job));
      return true;
    });
    if (!read) return read.error();
  }
  if (!damage.empty()) {
    log::warn("ignoring the bulk jobs' snapshot; folding the whole log instead", {{"reason", damage}});
    if (Status cleared = store.clear(kSnapshotScope); !cleared) return cleared.error();
    return std::uint64_t{0};
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  jobs_ = std::move(jobs);
  by_creation_.clear();
  for (const auto& [job_id, job] : jobs_) by_creation_.emplace(job.created_position, job_id);
  changed_.clear();
  position_ = **position;
  snapshot_position_ = **position;
  return **position;
}

}  // namespace muster
