// The embedded target, exercised over loopback with a synchronous Beast client.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "target/target.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/json_util.hpp"
#include "target/handlers.hpp"

namespace ld::target {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One keep-alive connection to the target.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  Response request(http::verb verb, const std::string& target, const std::string& body = {},
                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                   unsigned version = 11) {
    http::request<http::string_body> req{verb, target, version};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(socket_.remote_endpoint().port()));
    req.set(http::field::user_agent, "ld-target-test/1");
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || verb == http::verb::post) {
      req.body() = body;
      req.prepare_payload();
    }
    http::write(socket_, req);
    return read_response(verb == http::verb::head);
  }

  Response get(const std::string& target,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return request(http::verb::get, target, {}, headers);
  }

  // `head`: the response answers a HEAD request, so it has no body whatever its headers say.
  Response read_response(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u * 1024u * 1024u);
    parser.skip(head);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }

  void write_raw(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }

  // True when the server has closed the connection (read hits end of stream).
  bool closed_by_peer() {
    char byte;
    boost::system::error_code ec;
    socket_.read_some(net::buffer(&byte, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

Json body_json(const Response& res) { return Json::parse(res.body()); }

class TargetTest : public ::testing::Test {
 protected:
  void SetUp() override { target_.start(); }
  EmbeddedTarget target_{};
};

TEST_F(TargetTest, StartBindsAnEphemeralPortAndReportsBaseUrl) {
  EXPECT_TRUE(target_.running());
  EXPECT_NE(target_.port(), 0);
  EXPECT_EQ(target_.base_url(), "http://127.0.0.1:" + std::to_string(target_.port()));
}

TEST_F(TargetTest, GetEchoesArgsHeadersOriginAndUrl) {
  Client client(target_.port());
  const Response res = client.get("/get?a=1&b=two&b=three&sp=x+y%21",
                                  {{"x-custom-header", "hello"}, {"Accept", "*/*"}});
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res[http::field::server], "loaddensity-target");
  EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));
  const Json doc = body_json(res);
  EXPECT_EQ(doc["args"]["a"], "1");
  EXPECT_EQ(doc["args"]["b"], Json::array({"two", "three"}));
  EXPECT_EQ(doc["args"]["sp"], "x y!");
  EXPECT_EQ(doc["headers"]["Host"], "127.0.0.1:" + std::to_string(target_.port()));
  EXPECT_EQ(doc["headers"]["User-Agent"], "ld-target-test/1");
  EXPECT_EQ(doc["headers"]["X-Custom-Header"], "hello");
  EXPECT_EQ(doc["headers"]["Accept"], "*/*");
  EXPECT_EQ(doc["origin"], "127.0.0.1");
  EXPECT_EQ(doc["url"], "http://127.0.0.1:" + std::to_string(target_.port()) +
                            "/get?a=1&b=two&b=three&sp=x+y%21");
  EXPECT_FALSE(doc.contains("method"));
  EXPECT_FALSE(doc.contains("data"));
}

TEST_F(TargetTest, PostEchoesJsonBodyAsDataAndJson) {
  Client client(target_.port());
  const std::string body = R"({"name":"ld","n":[1,2,3]})";
  const Response res =
      client.request(http::verb::post, "/post", body, {{"Content-Type", "application/json"}});
  ASSERT_EQ(res.result_int(), 200);
  const Json doc = body_json(res);
  EXPECT_EQ(doc["data"], body);
  EXPECT_EQ(doc["json"], Json::parse(body));
  EXPECT_EQ(doc["form"], Json::object());
  EXPECT_EQ(doc["files"], Json::object());
  EXPECT_EQ(doc["headers"]["Content-Type"], "application/json");
}

TEST_F(TargetTest, PostWithNonJsonBodyHasNullJson) {
  Client client(target_.port());
  const Response res =
      client.request(http::verb::post, "/post", "plain text", {{"Content-Type", "text/plain"}});
  const Json doc = body_json(res);
  EXPECT_EQ(doc["data"], "plain text");
  EXPECT_TRUE(doc["json"].is_null());
}

TEST_F(TargetTest, FormBodyIsParsedIntoForm) {
  Client client(target_.port());
  const Response res =
      client.request(http::verb::post, "/post", "user=ada&lang=c%2B%2B&tag=a&tag=b",
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(res.result_int(), 200);
  const Json doc = body_json(res);
  EXPECT_EQ(doc["form"]["user"], "ada");
  EXPECT_EQ(doc["form"]["lang"], "c++");
  EXPECT_EQ(doc["form"]["tag"], Json::array({"a", "b"}));
  EXPECT_EQ(doc["data"], "");
  EXPECT_TRUE(doc["json"].is_null());
}

TEST_F(TargetTest, PutPatchDeleteAcceptTheirMethod) {
  Client client(target_.port());
  EXPECT_EQ(client.request(http::verb::put, "/put", "x").result_int(), 200);
  EXPECT_EQ(client.request(http::verb::patch, "/patch", "x").result_int(), 200);
  EXPECT_EQ(client.request(http::verb::delete_, "/delete").result_int(), 200);
}

TEST_F(TargetTest, WrongMethodGets405WithAllow) {
  Client client(target_.port());
  const Response post_on_get = client.request(http::verb::post, "/get", "x");
  EXPECT_EQ(post_on_get.result_int(), 405);
  EXPECT_EQ(post_on_get[http::field::allow], "GET, HEAD");
  const Response get_on_post = client.get("/post");
  EXPECT_EQ(get_on_post.result_int(), 405);
  EXPECT_EQ(get_on_post[http::field::allow], "POST");
}

TEST_F(TargetTest, AnythingAcceptsEveryMethodAndReportsIt) {
  Client client(target_.port());
  const Response res = client.request(http::verb::put, "/anything/deep/path?q=1", "{\"k\":1}");
  ASSERT_EQ(res.result_int(), 200);
  const Json doc = body_json(res);
  EXPECT_EQ(doc["method"], "PUT");
  EXPECT_EQ(doc["args"]["q"], "1");
  EXPECT_EQ(doc["json"]["k"], 1);
  EXPECT_EQ(body_json(client.get("/anything"))["method"], "GET");
}

TEST_F(TargetTest, StatusEndpointAnswersWithThatCode) {
  Client client(target_.port());
  const Response teapot = client.get("/status/418");
  EXPECT_EQ(teapot.result_int(), 418);
  EXPECT_EQ(client.request(http::verb::post, "/status/500", "x").result_int(), 500);
  const Response no_content = client.get("/status/204");
  EXPECT_EQ(no_content.result_int(), 204);
  EXPECT_TRUE(no_content.body().empty());
  const Response moved = client.get("/status/302");
  EXPECT_EQ(moved.result_int(), 302);
  EXPECT_EQ(moved[http::field::location], "/get");
  EXPECT_EQ(client.get("/status/600").result_int(), 400);
  EXPECT_EQ(client.get("/status/abc").result_int(), 400);
}

TEST_F(TargetTest, RedirectChainsDownToGet) {
  Client client(target_.port());
  const Response three = client.get("/redirect/3");
  EXPECT_EQ(three.result_int(), 302);
  EXPECT_EQ(three[http::field::location], "/redirect/2");
  const Response one = client.get("/redirect/1");
  EXPECT_EQ(one.result_int(), 302);
  EXPECT_EQ(one[http::field::location], "/get");
}

TEST_F(TargetTest, DelayWaitsAtLeastTheRequestedTime) {
  Client client(target_.port());
  const auto start = Clock::now();
  const Response res = client.get("/delay/0.2?x=1");
  const double elapsed = seconds_since(start);
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_GE(elapsed, 0.2);
  EXPECT_LT(elapsed, 3.0);
  EXPECT_EQ(body_json(res)["args"]["x"], "1");
}

TEST_F(TargetTest, DelayDoesNotBlockOtherConnectionsOnTheSameThread) {
  auto slow = std::async(std::launch::async, [port = target_.port()] {
    Client client(port);
    return client.get("/delay/1").result_int();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Client fast(target_.port());
  const auto start = Clock::now();
  EXPECT_EQ(fast.get("/get").result_int(), 200);
  EXPECT_LT(seconds_since(start), 0.5);
  EXPECT_EQ(slow.get(), 200);
}

TEST_F(TargetTest, BytesReturnsExactlyNOctets) {
  Client client(target_.port());
  const Response res = client.get("/bytes/1000");
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body().size(), 1000u);
  EXPECT_EQ(res[http::field::content_type], "application/octet-stream");
  EXPECT_EQ(client.get("/bytes/0").body().size(), 0u);
}

TEST_F(TargetTest, BearerNeedsAToken) {
  Client client(target_.port());
  const Response denied = client.get("/bearer");
  EXPECT_EQ(denied.result_int(), 401);
  EXPECT_EQ(denied[http::field::www_authenticate], "Bearer");
  const Response allowed = client.get("/bearer", {{"Authorization", "Bearer abc123"}});
  ASSERT_EQ(allowed.result_int(), 200);
  EXPECT_EQ(body_json(allowed), Json::parse(R"({"authenticated": true, "token": "abc123"})"));
}

TEST_F(TargetTest, BasicAuthChecksUserAndPassword) {
  Client client(target_.port());
  EXPECT_EQ(client.get("/basic-auth/user/pass").result_int(), 401);
  // base64("user:wrong") and base64("user:pass")
  EXPECT_EQ(client.get("/basic-auth/user/pass", {{"Authorization", "Basic dXNlcjp3cm9uZw=="}})
                .result_int(),
            401);
  const Response ok =
      client.get("/basic-auth/user/pass", {{"Authorization", "Basic dXNlcjpwYXNz"}});
  ASSERT_EQ(ok.result_int(), 200);
  EXPECT_EQ(body_json(ok), Json::parse(R"({"authenticated": true, "user": "user"})"));
}

TEST_F(TargetTest, SmallEndpointsHaveHttpbinShapes) {
  Client client(target_.port());
  EXPECT_EQ(body_json(client.get("/ip")), Json::parse(R"({"origin": "127.0.0.1"})"));
  EXPECT_EQ(body_json(client.get("/user-agent"))["user-agent"], "ld-target-test/1");
  EXPECT_EQ(body_json(client.get("/headers", {{"X-A", "1"}}))["headers"]["X-A"], "1");
  EXPECT_EQ(body_json(client.get("/cookies", {{"Cookie", "a=1; b=two"}})),
            Json::parse(R"({"cookies": {"a": "1", "b": "two"}})"));
  const std::string uuid = body_json(client.get("/uuid"))["uuid"];
  ASSERT_EQ(uuid.size(), 36u);
  EXPECT_EQ(uuid[14], '4');
  EXPECT_EQ(body_json(client.get("/json"))["slideshow"]["title"], "Sample Slide Show");
  const Response index = client.get("/");
  EXPECT_EQ(index.result_int(), 200);
  EXPECT_NE(index.body().find("/status/{code}"), std::string::npos);
}

TEST_F(TargetTest, HeadSendsHeadersWithoutBody) {
  Client client(target_.port());
  const Response head = client.request(http::verb::head, "/json");
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_NE(head[http::field::content_length], "0");
  EXPECT_TRUE(head.body().empty());
  // Had the server sent a body, it would be parsed as the next response and break this one.
  EXPECT_EQ(client.get("/ip").result_int(), 200);
}

TEST_F(TargetTest, UnknownPathIs404Json) {
  Client client(target_.port());
  const Response res = client.get("/no/such/thing");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(body_json(res), Json::parse(R"({"error": "not found", "path": "/no/such/thing"})"));
}

TEST_F(TargetTest, KeepAliveServesManyRequestsOnOneConnection) {
  Client client(target_.port());
  for (int i = 0; i < 20; ++i) {
    const Response res = client.get("/get?i=" + std::to_string(i));
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(body_json(res)["args"]["i"], std::to_string(i));
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(TargetTest, PipelinedRequestsAreAnsweredInOrder) {
  Client client(target_.port());
  std::string batch;
  for (int i = 0; i < 5; ++i) {
    batch += "GET /get?i=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  batch += "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  client.write_raw(batch);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(body_json(client.read_response())["args"]["i"], std::to_string(i));
  }
  EXPECT_EQ(body_json(client.read_response())["json"]["a"], 1);
}

TEST_F(TargetTest, ConnectionCloseIsHonoured) {
  Client client(target_.port());
  const Response res = client.get("/get", {{"Connection", "close"}});
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(TargetTest, Http10WithoutKeepAliveCloses) {
  Client client(target_.port());
  const Response res = client.request(http::verb::get, "/get", {}, {}, 10);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(TargetTest, Http10WithKeepAliveStaysOpen) {
  Client client(target_.port());
  const Response res =
      client.request(http::verb::get, "/get", {}, {{"Connection", "keep-alive"}}, 10);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::connection], "keep-alive");
  EXPECT_EQ(
      client.request(http::verb::get, "/ip", {}, {{"Connection", "keep-alive"}}, 10).result_int(),
      200);
}

TEST_F(TargetTest, MalformedRequestGets400AndClose) {
  Client client(target_.port());
  client.write_raw("THIS IS NOT HTTP\r\n\r\n");
  const Response res = client.read_response();
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_TRUE(client.closed_by_peer());
  // The server is still healthy.
  Client other(target_.port());
  EXPECT_EQ(other.get("/get").result_int(), 200);
}

TEST_F(TargetTest, ExpectContinueGetsInterimResponse) {
  Client client(target_.port());
  client.write_raw(
      "POST /post HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  const Response interim = client.read_response();
  EXPECT_EQ(interim.result_int(), 100);
  client.write_raw("hello");
  EXPECT_EQ(body_json(client.read_response())["data"], "hello");
}

TEST_F(TargetTest, StopReturnsPromptlyWithIdleKeepAliveConnection) {
  Client client(target_.port());
  ASSERT_EQ(client.get("/get").result_int(), 200);
  const auto start = Clock::now();
  target_.stop();
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_FALSE(target_.running());
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(TargetTest, StopReturnsPromptlyDuringDelay) {
  std::promise<void> sent;
  auto in_flight = std::async(std::launch::async, [port = target_.port(), &sent] {
    Client client(port);
    client.write_raw("GET /delay/5 HTTP/1.1\r\nHost: x\r\n\r\n");
    sent.set_value();
    return client.closed_by_peer();
  });
  sent.get_future().wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the server start waiting
  const auto start = Clock::now();
  target_.stop();
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_TRUE(in_flight.get());
}

TEST_F(TargetTest, StopIsIdempotentAndTargetCanRestart) {
  target_.stop();
  target_.stop();
  EXPECT_FALSE(target_.running());
  target_.start();
  Client client(target_.port());
  EXPECT_EQ(client.get("/get").result_int(), 200);
}

TEST(TargetStart, BusyPortThrowsNamingHostAndPort) {
  EmbeddedTarget first;
  first.start();
  EmbeddedTarget second({.host = "127.0.0.1", .port = first.port(), .threads = 1});
  try {
    second.start();
    FAIL() << "start() on a busy port should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
        std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(second.running());
}

TEST(TargetThreads, SeveralThreadsShareOnePort) {
  EmbeddedTarget target({.host = "127.0.0.1", .port = 0, .threads = 3});
  target.start();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 12; ++i) clients.push_back(std::make_unique<Client>(target.port()));
  for (auto& client : clients) EXPECT_EQ(client->get("/get").result_int(), 200);
  const auto start = Clock::now();
  target.stop();
  EXPECT_LT(seconds_since(start), 3.0);
}


TEST(TargetH3, BusyUdpPortThrowsNamingIt) {
  net::io_context io;
  net::ip::udp::socket taken(io, net::ip::udp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const std::uint16_t port = taken.local_endpoint().port();
  EmbeddedTarget target({.host = "127.0.0.1", .port = 0, .threads = 1, .h3_port = port});
  try {
    target.start();
    FAIL() << "start() on a busy UDP port should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP/3 (UDP) on port " + std::to_string(port)),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(target.running());
}

// A long-header datagram with a version nobody speaks gets a Version Negotiation packet
// (version 0) addressed to the sender's connection ID and listing QUIC v1, before and after a
// restart of the target.
TEST(TargetH3, UnknownVersionGetsVersionNegotiation) {
  EmbeddedTarget target;
  for (int round = 0; round < 2; ++round) {
    target.start();
    ASSERT_NE(target.h3_port(), 0);
    EXPECT_EQ(target.h3_address(), "127.0.0.1:" + std::to_string(target.h3_port()));
    net::io_context io;
    net::ip::udp::socket s(io, net::ip::udp::endpoint(net::ip::udp::v4(), 0));
    const timeval wait{10, 0};  // a lost reply fails the test instead of hanging it
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    std::vector<std::uint8_t> packet = {0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8};
    packet.insert(packet.end(), 8, 0x11);  // destination connection ID
    packet.push_back(8);
    packet.insert(packet.end(), 8, 0x22);  // source connection ID
    packet.resize(1200, 0);
    const net::ip::udp::endpoint to(net::ip::make_address("127.0.0.1"), target.h3_port());
    s.send_to(net::buffer(packet), to);
    std::array<std::uint8_t, 2048> reply{};
    net::ip::udp::endpoint from;
    const std::size_t n = s.receive_from(net::buffer(reply), from);
    ASSERT_GE(n, 6u + 8u + 1u + 8u + 4u);
    EXPECT_EQ(reply[1] | reply[2] | reply[3] | reply[4], 0);  // version 0
    EXPECT_EQ(reply[5], 8);
    EXPECT_EQ(std::vector<std::uint8_t>(reply.begin() + 6, reply.begin() + 14),
              std::vector<std::uint8_t>(8, 0x22));
    const std::array<std::uint8_t, 4> v1 = {0, 0, 0, 1};
    EXPECT_NE(std::search(reply.begin() + 23, reply.begin() + n, v1.begin(), v1.end()),
              reply.begin() + n);
    target.stop();
  }
}

// HTTP/2 and HTTP/3 answers carry the same fields as HTTP/1.1 minus the connection-specific ones.
TEST(TargetFields, ResponseFieldsAreLowerCaseWithoutConnectionFields) {
  Reply reply;
  reply.status = 302;
  reply.content_type = "text/plain";
  reply.body = "abc";
  reply.extra_headers = "Location: /get\r\nConnection: close\r\nX-Two:  b\r\n";
  std::vector<std::string> fields;
  response_fields(reply, true, fields);
  EXPECT_EQ(fields, (std::vector<std::string>{":status", "302", "server", "loaddensity-target",
                                               "content-type", "text/plain", "content-length",
                                               "3", "location", "/get", "x-two", "b"}));
  reply.status = 204;
  response_fields(reply, false, fields);
  EXPECT_EQ(fields.size(), 8u);  // no content-type nor content-length
  Request request;
  add_request_field(request, ":method", "POST");
  add_request_field(request, ":path", "/post?a=1");
  add_request_field(request, ":authority", "example.test");
  add_request_field(request, ":scheme", "https");
  add_request_field(request, "x-one", "1");
  EXPECT_EQ(request.method_string(), "POST");
  EXPECT_EQ(request.target(), "/post?a=1");
  EXPECT_EQ(request[boost::beast::http::field::host], "example.test");
  EXPECT_EQ(request["x-one"], "1");
  EXPECT_EQ(std::distance(request.begin(), request.end()), 2);
}

}  // namespace
}  // namespace ld::target
