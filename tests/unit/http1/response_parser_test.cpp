#include "http1/response_parser.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include <string>

#include "core/url.hpp"

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

TEST(Url, TargetsArePercentEncodedAsCurlDoes) {
  using namespace ld;
  Url u;
  std::string err;
  ASSERT_TRUE(parse_url("http://h/a b/\xC3\xA9?q=x y&c=\x01\x7f\t&k=%41/?:@!$'()*+,;=~", u, err));
  EXPECT_EQ(u.target, "/a%20b/%C3%A9?q=x%20y&c=%01%7F%09&k=%41/?:@!$'()*+,;=~");
  ASSERT_TRUE(parse_url("http://h?a b", u, err));
  EXPECT_EQ(u.target, "/?a%20b");
  std::string out = "GET ";
  EXPECT_TRUE(append_target(out, "/%zz 100%"));
  EXPECT_EQ(out, "GET /%zz%20100%") << "existing % signs are kept as they are";
}

TEST(Url, LineBreaksNulAndBadHostsAreRejected) {
  using namespace ld;
  Url u;
  std::string err;
  EXPECT_FALSE(parse_url("http://h/get?x=1 HTTP/1.1\r\nInjected: url\r\n\r\n", u, err));
  EXPECT_NE(err.find("line break"), std::string::npos) << err;
  EXPECT_FALSE(parse_url(std::string("http://h/a\0b", 12), u, err));
  EXPECT_FALSE(parse_url("http://h\n/", u, err));
  EXPECT_FALSE(parse_url("http://a b/", u, err));
  EXPECT_FALSE(
      parse_url("http://a\x01"
                "b/",
                u, err));
  for (std::string_view bad :
       {std::string_view("a\rb"), std::string_view("a\nb"), std::string_view("a\0b", 3)}) {
    std::string out;
    EXPECT_FALSE(append_target(out, bad)) << bad;
  }
  EXPECT_TRUE(has_line_break_or_nul(std::string_view("x\0", 2)));
  EXPECT_FALSE(has_line_break_or_nul("x\t\x01 y"));
  // Redirect locations: encoded the same way; a NUL is a bad location.
  Url base, next;
  ASSERT_TRUE(parse_url("http://h:1/dir/page?q", base, err));
  ASSERT_TRUE(resolve_location(base, "/new place?\xC3\xA9#frag", next, err));
  EXPECT_EQ(next.target, "/new%20place?%C3%A9");
  ASSERT_TRUE(resolve_location(base, "rel ative", next, err));
  EXPECT_EQ(next.target, "/dir/rel%20ative");
  EXPECT_FALSE(resolve_location(base, std::string_view("/a\0", 3), next, err));
}

TEST(Url, ParsesAndResolvesRedirects) {
  using namespace ld;
  Url u;
  std::string err;
  ASSERT_TRUE(parse_url("https://example.test:8443/a/b?x=1#frag", u, err));
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.target, "/a/b?x=1");
  EXPECT_EQ(u.host_header, "example.test:8443");
  ASSERT_TRUE(parse_url("http://[::1]:81", u, err));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.target, "/");
  EXPECT_FALSE(parse_url("ftp://x/", u, err));
  EXPECT_FALSE(parse_url("/relative", u, err));
  EXPECT_FALSE(parse_url("http://h:99999/", u, err));
  Url base, next;
  ASSERT_TRUE(parse_url("http://h:1/dir/page?q", base, err));
  ASSERT_TRUE(resolve_location(base, "other", next, err));
  EXPECT_EQ(next.target, "/dir/other");
  ASSERT_TRUE(resolve_location(base, "https://k/z", next, err));
  EXPECT_EQ(next.host, "k");
  EXPECT_TRUE(next.tls);
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
