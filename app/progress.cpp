#include "app/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace muster::app {
namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(200);

}  // namespace

Progress::Progress(std::string what, std::uint64_t total, std::string unit, bool forced)
    : what_(std::move(what)),
      total_(total),
      unit_(std::move(unit)),
      shown_(forced || (::isatty(STDERR_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 0)) {}

void Progress::update(std::uint64_t done) {
  if (!shown_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - drawn_at_ < kRedrawEvery) return;
  drawn_at_ = now;
  draw(done);
}

void Progress::finish(std::uint64_t done) {
  if (!shown_) return;
  draw(done);
  std::fputc('\n', stderr);
}

void Progress::note(const std::string& text) {
  if (!shown_) return;
  std::fputs(fmt::format("{}: {}\n", what_, text).c_str(), stderr);
}

void Progress::draw(std::uint64_t done) {
  const std::uint64_t percent = total_ == 0 ? 100 : std::min<std::uint64_t>(100, done * 100 / total_);
  std::fputs(fmt::format("\r{}: {} of {} {} ({}%)", what_, done, total_, unit_, percent).c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace muster::app
