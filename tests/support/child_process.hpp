#pragma once
/// Starting, watching and reaping child processes for tests that drive real
/// binaries (muster itself, nats-server): fork and exec with the output sent
/// to files, so a failing test can show what the child wrote.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace muster::testing {

/// Where a child's standard streams go. Empty paths: /dev/null for stdout
/// and stderr, the test's own stdin for stdin.
struct ChildOutput {
  std::string out_path;
  std::string err_path;
  std::string in_path;
  /// Appends to the output files instead of emptying them (a restarted
  /// server keeps the log of its earlier runs).
  bool append = false;
  /// SIGKILL the child when the thread that spawned it dies, so a test that
  /// crashes or is killed leaves no server behind. The child's lifetime is
  /// then tied to the spawning *thread*, not only the process.
  bool die_with_parent = false;
};

/// Starts `binary args...` (binary is a path, not looked up in PATH; args
/// exclude argv[0]). stdout and stderr may name the same file: it is opened
/// once and shared. Throws std::runtime_error when fork fails; a binary that
/// cannot be executed shows up as exit status 127.
pid_t spawn_process(const std::string& binary, const std::vector<std::string>& args,
                    const ChildOutput& output);

/// Blocks until `pid` exits and reaps it; its exit status, -signal when a
/// signal ended it, -1 when it is not our child.
int wait_for_exit(pid_t pid);

/// Reaps `pid` if it has exited (its status as wait_for_exit gives it), else
/// nullopt without blocking.
std::optional<int> exit_status_if_exited(pid_t pid);

/// A file's whole content; empty when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace muster::testing
