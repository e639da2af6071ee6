#pragma once
/// Progress of a long command on a terminal: one line on stderr, rewritten
/// in place ("replay: 120,000 of 1,000,000 events (12%)"), at most five
/// times a second, then left with its final count. Shown when stderr is a
/// terminal and stdout is not (the output would tear the line), or when
/// asked for (`--progress`); otherwise silent. One thread.

#include <chrono>
#include <cstdint>
#include <string>

namespace muster::app {

class Progress {
 public:
  /// `what` names the job ("replay"); `total` counts its `unit`s ("events").
  Progress(std::string what, std::uint64_t total, std::string unit, bool forced);
  /// `done` of the total so far; redraws if enough time passed.
  void update(std::uint64_t done);
  /// Draws the final count and ends the line.
  void finish(std::uint64_t done);
  /// A step that has no count ("waiting for the server"), on a line of its own.
  void note(const std::string& text);

 private:
  void draw(std::uint64_t done);

  const std::string what_;
  const std::uint64_t total_;
  const std::string unit_;
  const bool shown_;
  std::chrono::steady_clock::time_point drawn_at_{};
};

}  // namespace muster::app
