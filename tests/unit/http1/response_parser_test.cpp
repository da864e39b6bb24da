#include "http1/response_parser.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include <string>

using ld::proto::http1::ResponseParser;
using Result = ResponseParser::Result;

namespace {

// Feeds `wire` in pieces of `step` bytes; returns the final result and consumed total.
Result feed_in_steps(ResponseParser& p, const std::string& wire, std::size_t step,
                     std::size_t* total = nullptr) {
  std::size_t pos = 0;
  Result r = Result::kNeedMore;
  while (pos < wire.size()) {
    const std::size_t n = std::min(step, wire.size() - pos);
    std::size_t used = 0;
    r = p.feed(wire.data() + pos, n, used);
    pos += used;
    if (r != Result::kNeedMore) break;
  }
  if (total) *total = pos;
  return r;
}

}  // namespace

TEST(ResponseParser, ContentLengthInAnySplit) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nServer: x\r\n\r\nhello, world\nEXTRA";
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    ResponseParser p;
    std::string body;
    p.reset(false, &body);
    std::size_t consumed = 0;
    ASSERT_EQ(feed_in_steps(p, wire, step, &consumed), Result::kDone) << "step " << step;
    EXPECT_EQ(p.status(), 200);
    EXPECT_EQ(body, "hello, world\n");
    EXPECT_TRUE(p.keep_alive());
    EXPECT_EQ(consumed, wire.size() - 5) << "stops before the next response's bytes";
  }
}

TEST(ResponseParser, ChunkedWithExtensionsAndTrailers) {
  const std::string wire =
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    ResponseParser p;
    std::string body;
    p.reset(false, &body);
    ASSERT_EQ(feed_in_steps(p, wire, step), Result::kDone) << "step " << step;
    EXPECT_EQ(body, "hello, world");
    EXPECT_EQ(p.status(), 201);
  }
}

TEST(ResponseParser, ReadUntilCloseAndConnectionClose) {
  ResponseParser p;
  std::string body;
  p.reset(false, &body);
  const std::string wire = "HTTP/1.0 200 OK\r\n\r\nabc";
  EXPECT_EQ(feed_in_steps(p, wire, 4), Result::kNeedMore);
  EXPECT_EQ(p.on_eof(), Result::kDone);
  EXPECT_EQ(body, "abc");
  EXPECT_FALSE(p.keep_alive());

  p.reset(false);
  EXPECT_EQ(
      feed_in_steps(p, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 7),
      Result::kDone);
  EXPECT_FALSE(p.keep_alive());
}

TEST(ResponseParser, HeadAnd204HaveNoBodyAnd100IsSkipped) {
  ResponseParser p;
  p.reset(true);
  EXPECT_EQ(feed_in_steps(p, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 100), Result::kDone);
  p.reset(false);
  EXPECT_EQ(feed_in_steps(p, "HTTP/1.1 204 No Content\r\n\r\n", 3), Result::kDone);
  p.reset(false);
  EXPECT_EQ(feed_in_steps(p,
                          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n"
                          "Content-Length: 2\r\n\r\nno",
                          5),
            Result::kDone);
  EXPECT_EQ(p.status(), 404);
}

TEST(ResponseParser, RedirectLocationIsKept) {
  ResponseParser p;
  p.reset(false);
  EXPECT_EQ(
      feed_in_steps(p, "HTTP/1.1 302 Found\r\nLocation: /get?a=1\r\nContent-Length: 0\r\n\r\n", 10),
      Result::kDone);
  EXPECT_EQ(p.location(), "/get?a=1");
}

TEST(ResponseParser, GarbageIsAnErrorNotACrash) {
  for (const char* wire : {"SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    ResponseParser p;
    p.reset(false);
    EXPECT_EQ(feed_in_steps(p, wire, 3), Result::kError) << wire;
    EXPECT_NE(p.error(), nullptr);
  }
  ResponseParser p;
  p.reset(false);
  EXPECT_EQ(p.on_eof(), Result::kError);
  EXPECT_STREQ(p.error(), "connection closed before response");
}

TEST(ResponseParser, BytesThatCannotBeHttpFailAtOnce) {
  // No header block end has arrived: the status line alone shows it is not HTTP/1.x, so the
  // client need not wait for more (or for its timeout) on a connection that stays open.
  for (const char* wire : {"SSH-2.0-OpenSSH_9.2\r\n", "S", "HTTP/2 200", "HTTP/1.1 OK",
                           "http/1.1 200", "HTTP/1.1 20x"}) {
    ResponseParser p;
    p.reset(false);
    std::size_t used = 0;
    EXPECT_EQ(p.feed(wire, std::strlen(wire), used), Result::kError) << wire;
    EXPECT_STREQ(p.error(), ResponseParser::kNotHttp) << wire;
  }
  // A valid start arriving a byte at a time is not an error.
  ResponseParser p;
  p.reset(false);
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
  for (char c : ok) {
    std::size_t used = 0;
    ASSERT_EQ(p.feed(&c, 1, used), Result::kNeedMore);
  }
  // After an interim response, the next status line is checked too.
  p.reset(false);
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\nGARBAGE";
  std::size_t used = 0;
  EXPECT_EQ(p.feed(interim.data(), interim.size(), used), Result::kError);
  EXPECT_STREQ(p.error(), ResponseParser::kNotHttp);
}

TEST(ResponseParser, SetCookieValuesAndContentEncodingAreSurfaced) {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\nSet-Cookie: interim=1\r\n\r\n"
      "HTTP/1.1 302 Found\r\nSet-Cookie: a=1; Path=/\r\ncontent-ENCODING: Deflate\r\n"
      "set-cookie:b=2  \r\nLocation: /cookies\r\nContent-Length: 0\r\n\r\n";
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    ResponseParser p;
    p.reset(false);
    ASSERT_EQ(feed_in_steps(p, wire, step), Result::kDone) << "step " << step;
    EXPECT_EQ(p.set_cookies(), "a=1; Path=/\nb=2");  // the final response's only
    EXPECT_EQ(p.content_coding(), ld::proto::ContentCoding::kDeflate);
    EXPECT_EQ(p.location(), "/cookies");
  }
  ResponseParser p;
  p.reset(false);
  const std::string plain = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(feed_in_steps(p, plain, plain.size()), Result::kDone);
  EXPECT_TRUE(p.set_cookies().empty());
  EXPECT_EQ(p.content_coding(), ld::proto::ContentCoding::kIdentity);
}
