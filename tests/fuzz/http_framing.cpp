// Request framing, as the listeners read it: the header block is checked
// (check_header_block), then Beast parses it and the body after it. Input: a
// byte stream from a client.
//
// Checked: nothing crashes; a block the check accepts has CRLF line ends
// only, at most one framing, and Beast's reading of the framing agrees with
// the headers; a body never exceeds the limit, however it is framed.

#include <boost/beast/http.hpp>

#include "http/exchange.hpp"
#include "http/listener.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr std::size_t kMaxBodyBytes = 4096;

void check_accepted_block(std::string_view block) {
  for (std::size_t index = 0; index < block.size(); ++index) {
    if (block[index] == '\n') FUZZ_REQUIRE(index > 0 && block[index - 1] == '\r');
    if (block[index] == '\r') FUZZ_REQUIRE(index + 1 < block.size() && block[index + 1] == '\n');
  }
  // No obsolete line folding: no line starts with a space or a tab.
  FUZZ_REQUIRE(block.find("\r\n ") == std::string_view::npos && block.find("\r\n\t") == std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t end = input.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > kMaxHeaderBytes) return 0;
  const std::string_view block = input.substr(0, end + 4);
  if (muster::http::check_header_block(block, 100)) return 0;
  check_accepted_block(block);

  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxHeaderBytes + 1);
  parser.body_limit(kMaxBodyBytes);
  beast::error_code error;
  const std::size_t used = parser.put(boost::asio::buffer(block.data(), block.size()), error);
  if (error || !parser.is_header_done()) return 0;
  FUZZ_REQUIRE(used == block.size());
  const auto& message = parser.get();
  const bool has_length = message.count(bhttp::field::content_length) > 0;
  const bool has_coding = message.count(bhttp::field::transfer_encoding) > 0;
  FUZZ_REQUIRE(!(has_length && has_coding));
  FUZZ_REQUIRE(parser.chunked() == has_coding);
  if (has_length) FUZZ_REQUIRE(parser.content_length().has_value());

  std::string_view rest = input.substr(block.size());
  while (!parser.is_done() && !rest.empty()) {
    const std::size_t taken = parser.put(boost::asio::buffer(rest.data(), rest.size()), error);
    if (error == bhttp::error::need_more) break;
    if (error) return 0;
    if (taken == 0) break;
    rest.remove_prefix(taken);
  }
  FUZZ_REQUIRE(parser.get().body().size() <= kMaxBodyBytes);
  return 0;
}
