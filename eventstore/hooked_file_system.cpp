#include "eventstore/hooked_file_system.hpp"

namespace muster {
namespace {

// An injected fault looks like a full disk (ENOSPC), the failure a running
// server most often meets and the one RocksDB can resume from once space is back.
rocksdb::IOStatus to_io_status(const Status& status) {
  if (status.ok()) return rocksdb::IOStatus::OK();
  if (status.error().reason == kInjectedIoError) return rocksdb::IOStatus::IOError(status.error().message);
  return rocksdb::IOStatus::NoSpace(status.error().message);
}

class HookedWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  HookedWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file, std::string path,
                     std::shared_ptr<FileHooks> hooks)
      : FSWritableFileOwnerWrapper(std::move(file)), path_(std::move(path)), hooks_(std::move(hooks)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (auto refused = to_io_status(hooks_->check_write(path_)); !refused.ok()) return refused;
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& verification,
                           rocksdb::IODebugContext* dbg) override {
    if (auto refused = to_io_status(hooks_->check_write(path_)); !refused.ok()) return refused;
    return FSWritableFileOwnerWrapper::Append(data, options, verification, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    if (auto refused = to_io_status(hooks_->check_write(path_)); !refused.ok()) return refused;
    return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return synced([&] { return FSWritableFileOwnerWrapper::Sync(options, dbg); }, options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return synced([&] { return FSWritableFileOwnerWrapper::Fsync(options, dbg); }, options, dbg);
  }

 private:
  // The size is taken before the sync: what was appended while it ran may not
  // be covered, so the ledger never claims more than is durable.
  template <class Sync>
  rocksdb::IOStatus synced(Sync sync, const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
    if (auto refused = to_io_status(hooks_->check_write(path_)); !refused.ok()) return refused;
    hooks_->before_sync(path_);
    const std::uint64_t size = GetFileSize(options, dbg);
    rocksdb::IOStatus status = sync();
    if (status.ok()) hooks_->synced(path_, size);
    return status;
  }

  const std::string path_;
  const std::shared_ptr<FileHooks> hooks_;
};

class HookedFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit HookedFileSystem(std::shared_ptr<FileHooks> hooks)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), hooks_(std::move(hooks)) {}

  const char* Name() const override { return "MusterHookedFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    return wrap(path, FileSystemWrapper::NewWritableFile(path, options, file, dbg), file);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* file,
                                       rocksdb::IODebugContext* dbg) override {
    return wrap(path, FileSystemWrapper::ReopenWritableFile(path, options, file, dbg), file);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& path, const std::string& old_path,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* file,
                                      rocksdb::IODebugContext* dbg) override {
    return wrap(path, FileSystemWrapper::ReuseWritableFile(path, old_path, options, file, dbg), file);
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus status = FileSystemWrapper::RenameFile(from, to, options, dbg);
    if (status.ok()) hooks_->renamed(from, to);
    return status;
  }
  rocksdb::IOStatus DeleteFile(const std::string& path, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus status = FileSystemWrapper::DeleteFile(path, options, dbg);
    if (status.ok()) hooks_->deleted(path);
    return status;
  }

 private:
  rocksdb::IOStatus wrap(const std::string& path, rocksdb::IOStatus opened,
                         std::unique_ptr<rocksdb::FSWritableFile>* file) {
    if (opened.ok()) *file = std::make_unique<HookedWritableFile>(std::move(*file), path, hooks_);
    return opened;
  }

  const std::shared_ptr<FileHooks> hooks_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> make_hooked_file_system(std::shared_ptr<FileHooks> hooks) {
  return std::make_shared<HookedFileSystem>(std::move(hooks));
}

}  // namespace muster
