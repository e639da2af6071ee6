// WebSocket framing, as the listener reads it: a server-side Beast
// `websocket::stream` set up as http/listener.cpp sets it up (handshake
// answered, a small message limit) reads whole messages from a client that
// sends arbitrary bytes as its frames, then closes. Input: the client's bytes
// after the handshake.
//
// Checked: nothing crashes or leaks; no message handed over exceeds the
// limit; the reading ends (an error or the close) once the input is spent;
// what the server writes back (pongs, its close frame) stays within a bound
// of what it read, so a client cannot make it write without limit.

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

constexpr std::size_t kMessageMax = 4096;

const std::string kUpgrade =
    "GET /v1/opamp HTTP/1.1\r\nHost: m\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// Reads messages until the stream fails; counts them and checks each.
struct Reader {
  explicit Reader(websocket::stream<beast::test::stream>& socket_in) : socket(socket_in) {}
  websocket::stream<beast::test::stream>& socket;
  beast::flat_buffer buffer;
  std::size_t messages = 0;
  std::size_t message_bytes = 0;
  bool ended = false;

  void read() {
    socket.async_read(buffer, [this](beast::error_code error, std::size_t size) {
      if (error) {
        ended = true;
        return;
      }
      FUZZ_REQUIRE(size <= kMessageMax);
      FUZZ_REQUIRE(buffer.size() <= kMessageMax);
      ++messages;
      message_bytes += size;
      buffer.clear();
      buffer.shrink_to_fit();
      read();
    });
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  net::io_context context;
  beast::test::stream server_end(context);
  beast::test::stream client(context);
  server_end.connect(client);
  websocket::stream<beast::test::stream> socket(std::move(server_end));
  socket.read_message_max(kMessageMax);
  socket.auto_fragment(false);

  net::write(client, net::buffer(kUpgrade));
  bool accepted = false;
  socket.async_accept([&](beast::error_code error) { accepted = !error; });
  context.run();
  FUZZ_REQUIRE(accepted);
  context.restart();
  client.clear();  // the 101 answer: not what is checked

  Reader reader(socket);
  reader.read();
  if (size > 0) net::write(client, net::buffer(data, size));
  client.close();  // the client's end of input: EOF after its bytes
  context.run();

  FUZZ_REQUIRE(reader.ended);
  FUZZ_REQUIRE(reader.message_bytes <= size);
  // Pongs echo pings' payloads (at most 125 bytes for a frame of at least 6)
  // and one close frame: what came back is bounded by what went in.
  const std::size_t written_back = client.str().size();
  FUZZ_REQUIRE(written_back <= 2 * size + 256);
  return 0;
}
