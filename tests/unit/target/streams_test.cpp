// The embedded target's streaming endpoints over loopback: WebSocket echo, the /sse stream, and
// the TCP and UDP echo listeners.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <string>

#include "target/target.hpp"

namespace ld::target {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using udp = net::ip::udp;

const net::ip::address kLoopback = net::ip::make_address("127.0.0.1");

class TargetStreams : public ::testing::Test {
 protected:
  void SetUp() override { target_.start(); }
  void TearDown() override { target_.stop(); }

  // Sends a raw HTTP request and reads until the server closes the connection.
  std::string fetch(const std::string& request) {
    tcp::socket s(io_);
    s.connect(tcp::endpoint(kLoopback, target_.port()));
    net::write(s, net::buffer(request));
    std::string out;
    boost::system::error_code ec;
    char buf[4096];
    for (;;) {
      const std::size_t n = s.read_some(net::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
    return out;
  }

  net::io_context io_;
  EmbeddedTarget target_;
};

TEST_F(TargetStreams, WebSocketEchoesTextAndBinary) {
  websocket::stream<tcp::socket> ws(io_);
  ws.next_layer().connect(tcp::endpoint(kLoopback, target_.port()));
  ws.handshake("127.0.0.1", "/ws");
  beast::flat_buffer buffer;
  ws.text(true);
  ws.write(net::buffer(std::string("hello")));
  ws.read(buffer);
  EXPECT_TRUE(ws.got_text());
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "hello");
  buffer.consume(buffer.size());
  const std::string bytes("\x00\xFF\x10", 3);
  ws.binary(true);
  ws.write(net::buffer(bytes));
  ws.read(buffer);
  EXPECT_TRUE(ws.got_binary());
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), bytes);
  ws.close(websocket::close_code::normal);
  EXPECT_EQ(target_.ws_url(), "ws://127.0.0.1:" + std::to_string(target_.port()) + "/ws");
}

TEST_F(TargetStreams, UpgradeElsewhereIsAnOrdinaryRequest) {
  websocket::stream<tcp::socket> ws(io_);
  ws.next_layer().connect(tcp::endpoint(kLoopback, target_.port()));
  boost::system::error_code ec;
  websocket::response_type res;
  ws.handshake(res, "127.0.0.1", "/get", ec);
  EXPECT_EQ(ec, websocket::error::upgrade_declined);
  EXPECT_EQ(res.result_int(), 200u);
}

TEST_F(TargetStreams, SseSendsCountEventsChunkedThenEnds) {
  const std::string r = fetch("GET /sse?rate=1000&count=3&retry=250 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(r.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(r.find("retry: 250\n\n"), std::string::npos);
  for (int id = 1; id <= 3; ++id) {
    EXPECT_NE(r.find("id: " + std::to_string(id) + "\ndata: event " + std::to_string(id) + "\n\n"),
              std::string::npos)
        << r;
  }
  EXPECT_EQ(r.find("id: 4"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 5), "0\r\n\r\n");
}

TEST_F(TargetStreams, SseOptionsShapeTheEvents) {
  const std::string r = fetch(
      "GET /sse?rate=1000&count=1&lines=2&event=tick&data=hi&crlf=1&comment=1 HTTP/1.1\r\n"
      "Host: x\r\nLast-Event-ID: 41\r\n\r\n");
  EXPECT_NE(r.find(": tick\r\nid: 42\r\nevent: tick\r\ndata: hi 42\r\ndata: hi 42 line 2\r\n\r\n"),
            std::string::npos)
      << r;
}

TEST_F(TargetStreams, SseAbortDropsTheConnectionMidBody) {
  const std::string r = fetch("GET /sse?rate=1000&count=2&abort=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(r.find("data: event 2\n\n"), std::string::npos);
  EXPECT_EQ(r.find("0\r\n\r\n"), std::string::npos) << r;
}

TEST_F(TargetStreams, SseRejectsBadParameters) {
  EXPECT_EQ(fetch("GET /sse?rate=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 400", 0),
            0u);
  EXPECT_EQ(fetch("GET /sse?lines=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 400", 0),
            0u);
}

TEST_F(TargetStreams, TcpEchoReturnsEveryByte) {
  ASSERT_NE(target_.tcp_port(), 0);
  EXPECT_EQ(target_.tcp_address(), "127.0.0.1:" + std::to_string(target_.tcp_port()));
  tcp::socket s(io_);
  s.connect(tcp::endpoint(kLoopback, target_.tcp_port()));
  const std::string payload(100000, 'x');
  net::write(s, net::buffer(payload));
  std::string back(payload.size(), '\0');
  net::read(s, net::buffer(back));
  EXPECT_EQ(back, payload);
}

TEST_F(TargetStreams, UdpEchoReturnsTheDatagram) {
  ASSERT_NE(target_.udp_port(), 0);
  udp::socket s(io_, udp::endpoint(kLoopback, 0));
  const std::string payload("\xDE\xAD\xBE\xEF", 4);
  s.send_to(net::buffer(payload), udp::endpoint(kLoopback, target_.udp_port()));
  char buf[64];
  udp::endpoint from;
  const std::size_t n = s.receive_from(net::buffer(buf), from);
  EXPECT_EQ(std::string(buf, n), payload);
  EXPECT_EQ(from.port(), target_.udp_port());
}

TEST_F(TargetStreams, StopEndsOpenStreams) {
  websocket::stream<tcp::socket> ws(io_);
  ws.next_layer().connect(tcp::endpoint(kLoopback, target_.port()));
  ws.handshake("127.0.0.1", "/ws");
  tcp::socket sse(io_);
  sse.connect(tcp::endpoint(kLoopback, target_.port()));
  net::write(sse, net::buffer(std::string("GET /sse?rate=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")));
  tcp::socket echo(io_);
  echo.connect(tcp::endpoint(kLoopback, target_.tcp_port()));
  target_.stop();
  // Every connection sees its end (reads fail) instead of hanging.
  boost::system::error_code ec;
  beast::flat_buffer buffer;
  ws.read(buffer, ec);
  EXPECT_TRUE(ec);
  char buf[4096];
  for (int i = 0; i < 100 && !ec; ++i) sse.read_some(net::buffer(buf), ec);
  EXPECT_TRUE(ec);
  ec = {};
  echo.read_some(net::buffer(buf), ec);
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace ld::target
