// The embedded target's Redis subset: the store's commands, types, expiry and size bound, and the
// RESP listener over loopback (pipelined and inline commands).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <vector>

#include "core/resp.hpp"
#include "target/resp_server.hpp"
#include "target/target.hpp"

namespace ld::target {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string run(RespStore& store, std::vector<std::string> words) {
  std::vector<std::string_view> args(words.begin(), words.end());
  std::string out;
  store.execute(args, out);
  return out;
}

TEST(RespStore, AnswersTheSubset) {
  RespStore s;
  EXPECT_EQ(run(s, {"PING"}), "+PONG\r\n");
  EXPECT_EQ(run(s, {"ping", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(run(s, {"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(run(s, {"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(run(s, {"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(run(s, {"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(run(s, {"INCR", "n"}), ":2\r\n");
  EXPECT_EQ(run(s, {"INCR", "k"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run(s, {"EXISTS", "k", "n", "zz"}), ":2\r\n");
  EXPECT_EQ(run(s, {"LPUSH", "l", "a", "b"}), ":2\r\n");
  EXPECT_EQ(run(s, {"RPOP", "l"}), "$1\r\na\r\n");
  EXPECT_EQ(run(s, {"RPOP", "l"}), "$1\r\nb\r\n");
  EXPECT_EQ(run(s, {"RPOP", "l"}), "$-1\r\n");
  EXPECT_EQ(run(s, {"HSET", "h", "f", "1", "g", "2"}), ":2\r\n");
  EXPECT_EQ(run(s, {"HSET", "h", "f", "3"}), ":0\r\n");
  EXPECT_EQ(run(s, {"HGET", "h", "f"}), "$1\r\n3\r\n");
  EXPECT_EQ(run(s, {"HGET", "h", "x"}), "$-1\r\n");
  EXPECT_EQ(run(s, {"LPUSH", "h", "x"}),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT_EQ(run(s, {"GET", "h"}).substr(0, 10), "-WRONGTYPE");
  EXPECT_EQ(run(s, {"DEL", "h", "k", "zz"}), ":2\r\n");
  EXPECT_EQ(run(s, {"EXISTS", "h"}), ":0\r\n");
  EXPECT_EQ(run(s, {"SET", "k"}), "-ERR wrong number of arguments for 'set' command\r\n");
  EXPECT_EQ(run(s, {"SET", "k", "v", "NX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run(s, {"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(run(s, {"SELECT", "1"}).substr(0, 4), "-ERR");
  EXPECT_EQ(run(s, {"AUTH", "pw"}).substr(0, 4), "-ERR");
  EXPECT_EQ(run(s, {"FLUSHALL"}).substr(0, 26), "-ERR unknown command 'FLUS");
}

TEST(RespStore, ExpiryRemovesKeys) {
  RespStore s;
  run(s, {"SET", "k", "v", "PX", "1"});
  run(s, {"SET", "j", "v"});
  EXPECT_EQ(run(s, {"EXPIRE", "j", "0"}), ":1\r\n");  // expires at once
  EXPECT_EQ(run(s, {"EXPIRE", "nope", "10"}), ":0\r\n");
  EXPECT_EQ(run(s, {"EXISTS", "j"}), ":0\r\n");
  // 1 ms later "k" is gone; wait on the clock rather than sleeping a fixed time.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
  while (std::chrono::steady_clock::now() < until) {
  }
  EXPECT_EQ(run(s, {"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(s.entries(), 0u);
  EXPECT_EQ(s.bytes(), 0u);
}

TEST(RespStore, IsBoundedInSize) {
  RespStore s;
  const std::string mib(1 << 20, 'x');
  std::size_t stored = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string reply = run(s, {"SET", "k" + std::to_string(i), mib});
    if (reply != "+OK\r\n") {
      EXPECT_EQ(reply.substr(0, 4), "-OOM");
      break;
    }
    ++stored;
  }
  EXPECT_LT(stored, 64u);
  EXPECT_LE(s.bytes(), RespStore::kMaxBytes);
  run(s, {"DEL", "k0"});  // room again
  EXPECT_EQ(run(s, {"SET", "k0", "small"}), "+OK\r\n");
}

TEST(RespServer, AnswersPipelinedAndInlineCommandsOverLoopback) {
  EmbeddedTarget target;
  target.start();
  ASSERT_NE(target.redis_port(), 0);
  EXPECT_EQ(target.redis_url(), "redis://127.0.0.1:" + std::to_string(target.redis_port()) + "/0");
  net::io_context io;
  tcp::socket sock(io);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), target.redis_port()));
  std::string cmds;
  resp::append_command(cmds, {"SET", "k", "hello"});
  resp::append_command(cmds, {"GET", "k"});
  cmds += "PING\r\n";
  // Sent in two pieces that split a command.
  net::write(sock, net::buffer(cmds.data(), 10));
  net::write(sock, net::buffer(cmds.data() + 10, cmds.size() - 10));
  const std::string want = "+OK\r\n$5\r\nhello\r\n+PONG\r\n";
  std::string got(want.size(), '\0');
  net::read(sock, net::buffer(got));
  EXPECT_EQ(got, want);
  target.stop();
}

}  // namespace
}  // namespace ld::target
