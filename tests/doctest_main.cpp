#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace {

std::atomic<int> test_cases_started{0};

// Counts the test cases that ran: a filter that selects none is a mistake
// (ctest once ran names holding ';' as a filter that matched nothing, and
// called that a pass).
struct StartCounter : doctest::IReporter {
  explicit StartCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++test_cases_started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("start_counter", 1, StartCounter);

int main(int argc, char** argv) {
  // A server may close a connection while a test is still sending (a 413
  // before the body, a refused request with a large body): as for any HTTP
  // client, that is an error from send(), not a reason for the test to die.
  std::signal(SIGPIPE, SIG_IGN);
  bool filtered = false;
  bool listing = false;
  for (int index = 1; index < argc; ++index) {
    filtered = filtered || std::strncmp(argv[index], "--test-case=", 12) == 0 ||
               std::strncmp(argv[index], "-tc=", 4) == 0;
    listing = listing || std::strncmp(argv[index], "--list", 6) == 0 || std::strncmp(argv[index], "-l", 2) == 0;
  }
  const int result = doctest::Context(argc, argv).run();
  if (result == 0 && filtered && !listing && test_cases_started == 0) {
    std::fprintf(stderr, "no test case matched the filter: nothing ran\n");
    return 1;
  }
  return result;
}
