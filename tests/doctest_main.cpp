#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

int main(int argc, char** argv) {
  // A server may close a connection while a test is still sending (a 413
  // before the body, a refused request with a large body): as for any HTTP
  // client, that is an error from send(), not a reason for the test to die.
  std::signal(SIGPIPE, SIG_IGN);
  return doctest::Context(argc, argv).run();
}
