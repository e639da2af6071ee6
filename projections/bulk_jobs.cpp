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
    marks_.changed.insert(job.job_id);
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
  auto page = newest_first(jobs_, by_creation_, org_scope, limit, after,
                           [](const BulkJob& job) { return job.job_id; });
  if (!page) return page.error();
  return BulkJobPage{std::move(page->records), std::move(page->next_after)};
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
  return save_changed_records(store, kSnapshotScope, kJobEntry, mutex_, marks_, position_,
                              [this](const std::string& job_id) { return encode_bulk_job(jobs_.at(job_id)); });
}

Result<std::uint64_t> BulkJobs::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto loaded = load_keyed_records<BulkJob>(store, kSnapshotScope, kJobEntry, head_position, "the bulk jobs'",
                                            decode_bulk_job, [](const BulkJob& job) { return job.job_id; });
  if (!loaded) return loaded.error();
  if (!*loaded) return std::uint64_t{0};
  std::unique_lock<std::shared_mutex> lock(mutex_);
  jobs_.clear();
  by_creation_.clear();
  for (BulkJob& job : (*loaded)->records) {
    by_creation_.emplace(job.created_position, job.job_id);
    const std::string job_id = job.job_id;
    jobs_.emplace(job_id, std::move(job));
  }
  marks_ = SnapshotMarks{{}, (*loaded)->position};
  position_ = (*loaded)->position;
  return position_;
}

}  // namespace muster
