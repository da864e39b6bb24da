// redis_user: bad task fields and options are ConfigErrors naming the field and its JSON pointer
// before anything runs; URLs parse into host, port, credentials and database; good tasks compile
// to the expected names and endpoints.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loaddensity/core/error.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"
#include "protocols/expect_config_error.hpp"
#include "redis/redis.hpp"
#include "redis/redis_impl.hpp"
#include "redis/url.hpp"

namespace ld::proto::redis {
namespace {

TEST(RedisUrl, ParsesCredentialsPortAndDatabase) {
  RedisUrl u;
  std::string error;
  ASSERT_TRUE(parse_redis_url("redis://127.0.0.1:6380/3", u, error)) << error;
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 3);
  EXPECT_FALSE(u.auth);
  EXPECT_EQ(u.display, "redis://127.0.0.1:6380/3");

  ASSERT_TRUE(parse_redis_url("redis://:p%40ss@localhost", u, error)) << error;
  EXPECT_TRUE(u.auth);
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "p@ss");
  EXPECT_EQ(u.port, 6379);
  EXPECT_EQ(u.db, 0);
  EXPECT_EQ(u.display, "redis://localhost:6379/0");  // no credentials in reports

  ASSERT_TRUE(parse_redis_url("rediss://alice:secret@[::1]:7000/", u, error)) << error;
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "secret");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 7000);

  EXPECT_FALSE(parse_redis_url("http://127.0.0.1:6379", u, error));
  EXPECT_NE(error.find("not supported"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("redis://h:6379/x", u, error));
  EXPECT_NE(error.find("database 'x'"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("127.0.0.1:6379", u, error));
  EXPECT_FALSE(parse_redis_url("redis://h:6379/0?timeout=1", u, error));
}

TEST(RedisConfig, BadTaskFieldsNameTheirPointer) {
  auto p = make_protocol();
  auto bad = [&](const Json& task, const std::string& ptr, const std::string& text) {
    expect_config_error([&] { p->validate_task(task); }, ptr, text);
  };
  bad({{"method", "gte"}, {"key", "k"}}, "/method", "did you mean 'get'?");
  bad({{"method", "get"}}, "/key", "missing");
  bad({{"method", "set"}, {"key", "k"}}, "/value", "needs a value");
  bad({{"method", "get"}, {"key", "k"}, {"value", "v"}}, "/value", "takes no value");
  bad({{"method", "get"}, {"key", Json::array()}}, "/key", "must be string or number, got array");
  bad({{"key", "k"}}, "", "task needs 'method'");
  bad({{"method", "get"}, {"key", "k"}, {"vlaue", 1}}, "/vlaue", "did you mean 'value'?");
  bad({{"command", Json::array()}}, "/command", "non-empty list");
  bad({{"command", {"HSET", "h", Json::object()}}}, "/command/2", "string or number");
  bad({{"command", {"${var.cmd}", "h"}}}, "/command/0", "fixed, non-empty string");
  bad({{"command", {"GET", "k"}}, {"method", "get"}}, "/command", "not both");
  bad({{"command", {"GET", "k"}}, {"key", "k"}}, "/key", "carries its own arguments");
  bad({{"method", "get"}, {"key", "k"}, {"url", "http://h:1"}}, "/url", "not supported");
  bad({{"method", "get"}, {"key", "k"}, {"timeout", -1}}, "/timeout", "");
  bad({{"method", "get"}, {"key", "k"}, {"expect", Json::array()}}, "/expect", "null (nil)");
  bad({{"method", "get"}, {"key", "k"}, {"assertions", {{{"type", "status_code"}, {"value", 200}}}}},
      "/assertions/0/type", "no status code");
  bad({{"method", "get"}, {"key", "k"}, {"extract", {{{"var", "v"}, {"from", "header"}, {"name", "x"}}}}},
      "/extract/0/from", "json_path");
  bad({{"method", "get"}, {"key", "k"}, {"assertions", {{{"type", "contians"}, {"value", 1}}}}},
      "/assertions/0/type", "did you mean 'contains'?");
}

TEST(RedisConfig, BadOptionsNameTheirPointer) {
  auto p = make_protocol();
  auto bad = [&](const Json& args, const std::string& ptr, const std::string& text) {
    expect_config_error([&] { p->validate_options(args); }, ptr, text);
  };
  bad({{"pipeline", 0}}, "/pipeline", "from 1 to 1024");
  bad({{"pipeline", "4"}}, "/pipeline", "from 1 to 1024");
  bad({{"connection", 5}}, "/connection", "redis:// URL");
  bad({{"connection", {{"uri", "redis://h"}}}}, "/connection/uri", "unknown key 'uri'");
  bad({{"connection", {{"url", "mongodb://h"}}}}, "/connection/url", "not supported");
  bad({{"connection", "redis://h:1/x"}}, "/connection", "database 'x'");
  p->validate_options({{"pipeline", 16}, {"connection", {{"url", "redis://h:1/2"}}}});
}

struct Compiled {
  engine::NameTable names;
  std::unique_ptr<engine::CompiledTasks> tasks;
  const Tasks& redis() const { return static_cast<const Tasks&>(*tasks); }
};

Compiled compile(const Json& tasks, const Json& options = Json::object(),
                 const std::string& host = "") {
  params::Resolver resolver;
  resolver.set_variable("db_url", "redis://127.0.0.1:6390/4");
  Compiled c;
  engine::CompileContext ctx{resolver, c.names, host, options};
  std::vector<Json> list(tasks.begin(), tasks.end());
  c.tasks = make_protocol()->compile(list, ctx);
  return c;
}

TEST(RedisCompile, StaticCommandsArePreEncodedAndPlaceholdersStayDynamic) {
  const Compiled c = compile(Json::array({
      {{"method", "set"}, {"key", "k"}, {"value", {{"a", 1}}}},
      {{"method", "delete"}, {"key", "k"}, {"name", "cleanup"}},
      {{"command", {"hset", "h", "${uuid()}", 7}}},
  }));
  const Tasks& t = c.redis();
  ASSERT_EQ(t.steps.size(), 3u);
  EXPECT_FALSE(t.steps[0].dynamic);
  EXPECT_EQ(t.steps[0].command, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\n{\"a\":1}\r\n");
  EXPECT_EQ(t.steps[1].command, "*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n");
  EXPECT_TRUE(t.steps[2].dynamic);
  ASSERT_EQ(t.steps[2].args.size(), 4u);
  EXPECT_EQ(t.steps[2].args[3].text(), "7");
  EXPECT_EQ(c.names.at(t.steps[0].name_id), std::make_pair(std::string("REDIS"), std::string("set")));
  EXPECT_EQ(c.names.at(t.steps[1].name_id).second, "cleanup");
  EXPECT_EQ(c.names.at(t.steps[2].name_id).second, "HSET");
  // One default endpoint, no handshake.
  ASSERT_EQ(t.endpoints.size(), 1u);
  EXPECT_EQ(t.endpoints[0].url.display, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(t.endpoints[0].handshake_replies, 0u);
  EXPECT_EQ(t.pipeline, 1u);
}

TEST(RedisCompile, UrlsBecomeEndpointsWithAuthAndSelect) {
  const Compiled c = compile(
      Json::array({
          {{"method", "get"}, {"key", "a"}},
          {{"method", "get"}, {"key", "b"}, {"url", "${db_url}"}},
          {{"method", "get"}, {"key", "c"}, {"url", "redis://u:pw@127.0.0.1:6391/2"}},
          {{"method", "get"}, {"key", "d"}, {"url", "redis://127.0.0.1:6390/4"}},
      }),
      {{"connection", {{"url", "redis://:pw@127.0.0.1:6392"}}}, {"pipeline", 8}});
  const Tasks& t = c.redis();
  ASSERT_EQ(t.endpoints.size(), 3u);
  EXPECT_EQ(t.pipeline, 8u);
  EXPECT_EQ(t.steps[0].endpoint, 0u);
  EXPECT_EQ(t.endpoints[0].handshake, "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
  EXPECT_EQ(t.steps[1].endpoint, 1u);
  EXPECT_EQ(t.steps[3].endpoint, 1u);  // the same URL shares a connection
  EXPECT_EQ(t.endpoints[1].handshake, "*2\r\n$6\r\nSELECT\r\n$1\r\n4\r\n");
  EXPECT_EQ(t.endpoints[2].handshake,
            "*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
  EXPECT_EQ(t.endpoints[2].handshake_replies, 2u);
}

TEST(RedisCompile, RedissUrlsGetATlsContextPerVerifySetting) {
  const Compiled c = compile(
      Json::array({
          {{"method", "get"}, {"key", "a"}},
          {{"method", "get"}, {"key", "b"}, {"url", "rediss://127.0.0.1:6390"}},
          {{"method", "get"}, {"key", "c"}, {"url", "rediss://127.0.0.1:6390"}, {"verify", false}},
          {{"method", "get"}, {"key", "d"}, {"url", "redis://127.0.0.1:6390"}},
      }),
      {{"connection", {{"url", "rediss://127.0.0.1:6390"}, {"verify", false}}}});
  const Tasks& t = c.redis();
  ASSERT_EQ(t.endpoints.size(), 2u);
  EXPECT_EQ(t.steps[0].endpoint, 0u);
  EXPECT_TRUE(t.endpoints[0].url.tls);
  ASSERT_TRUE(t.endpoints[0].ssl);
  EXPECT_EQ(t.steps[2].endpoint, 0u);  // the same URL and verify setting share a connection
  EXPECT_EQ(t.steps[1].endpoint, 0u);  // connection.verify applies to a task's url too
  EXPECT_EQ(t.steps[3].endpoint, 1u);
  EXPECT_FALSE(t.endpoints[1].ssl);
  expect_config_error(
      [] { make_protocol()->validate_task({{"method", "get"}, {"key", "k"}, {"verify", 1}}); },
      "/verify", "must be string or boolean, got integer 1");
  expect_config_error(
      [] { make_protocol()->validate_options({{"connection", {{"url", "rediss://h"}, {"verify", 2}}}}); },
      "/connection/verify", "CA bundle path");
}

TEST(RedisCompile, HostAsRedisUrlIsTheDefault) {
  const Compiled c = compile(Json::array({{{"method", "get"}, {"key", "a"}}}), Json::object(),
                             "redis://127.0.0.1:6393/1");
  EXPECT_EQ(c.redis().endpoints[0].url.display, "redis://127.0.0.1:6393/1");
}

TEST(RedisCompile, UnusableUrlsFailWithTheirPointer) {
  expect_config_error(
      [] { compile(Json::array({{{"method", "get"}, {"key", "a"}, {"url", "redis://h:1/${uuid()}"}}})); },
      "/0/url", "not fixed for the run");
  expect_config_error(
      [] {
        compile(Json::array(
            {{{"method", "get"}, {"key", "a"}, {"url", "rediss://h:1"}, {"verify", "/no/ca.pem"}}}));
      },
      "/0/url", "cannot load CA bundle '/no/ca.pem'");
  expect_config_error(
      [] {
        compile(Json::array({{{"method", "get"}, {"key", "a"}}}),
                {{"connection", "redis://${var.nope}"}});
      },
      "", "LD_start_test connection url 'redis://${var.nope}'");
}

}  // namespace
}  // namespace ld::proto::redis
