#include "tests/support/child_process.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace muster::testing {
namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

pid_t spawn_process(const std::string& binary, const std::vector<std::string>& args,
                    const ChildOutput& output) {
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed (the test is threaded).
  std::vector<std::string> copies;
  copies.reserve(args.size() + 1);
  copies.push_back(binary);
  copies.insert(copies.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : copies) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string out_path = output.out_path.empty() ? "/dev/null" : output.out_path;
  const std::string err_path = output.err_path.empty() ? "/dev/null" : output.err_path;
  const bool shared_output = out_path == err_path;
  const int flags = O_WRONLY | O_CREAT | (output.append ? O_APPEND : O_TRUNC);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (output.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      // The parent may have died before prctl took effect.
      if (::getppid() != parent) ::_exit(127);
    }
    const int out = ::open(out_path.c_str(), flags, 0644);
    const int err = shared_output ? out : ::open(err_path.c_str(), flags, 0644);
    if (out < 0 || err < 0) ::_exit(127);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    if (!output.in_path.empty()) {
      const int in = ::open(output.in_path.c_str(), O_RDONLY);
      if (in < 0) ::_exit(127);
      ::dup2(in, STDIN_FILENO);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  pid_t done = -1;
  do {
    done = ::waitpid(pid, &status, 0);
  } while (done < 0 && errno == EINTR);
  return done == pid ? decode_status(status) : -1;
}

std::optional<int> exit_status_if_exited(pid_t pid) {
  int status = 0;
  const pid_t done = ::waitpid(pid, &status, WNOHANG);
  if (done == pid) return decode_status(status);
  if (done < 0) return -1;  // Not our child (already reaped): it is gone.
  return std::nullopt;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace muster::testing
