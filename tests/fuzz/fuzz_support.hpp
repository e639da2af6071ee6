#pragma once
/// What the fuzz targets share: a contract check that RelWithDebInfo's NDEBUG
/// cannot switch off, and the split of an input into a sub-parser and its text.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// abort() rather than a throw: libFuzzer then saves the input as a crash.
#define FUZZ_REQUIRE(condition) \
  ((condition) ? (void)0 : ::muster::fuzz::contract_violated(#condition, __FILE__, __LINE__))

namespace muster::fuzz {

[[noreturn]] inline void contract_violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "contract violated: %s at %s:%d\n", condition, file, line);
  std::abort();
}

struct Selected {
  unsigned parser;
  std::string_view text;
};

/// The first byte picks one of `parser_count` sub-parsers, counted from '0'
/// so that seed files start with a readable digit; the rest is its input.
inline std::optional<Selected> select_parser(const std::uint8_t* data, std::size_t size,
                                             unsigned parser_count) {
  if (size == 0) return std::nullopt;
  const unsigned parser = static_cast<std::uint8_t>(data[0] - '0') % parser_count;
  return Selected{parser, std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)};
}

/// Splits on '\0' as the kernel splits a command line into argv.
inline std::vector<std::string> split_on_nul(std::string_view text) {
  std::vector<std::string> parts;
  if (text.empty()) return parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t nul = text.find('\0', start);
    parts.emplace_back(text.substr(start, nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  return parts;
}

}  // namespace muster::fuzz
