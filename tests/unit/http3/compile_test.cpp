// HTTP/3 task validation and compilation: the HTTP/2 user's fields and checks, https only, the
// TLS fields (a CA bundle that cannot be read), max_streams, and the errors bad input gets
// (message and JSON pointer).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "http2/http2.hpp"
#include "http3/http3.hpp"
#include "http3/http3_impl.hpp"
#include "loaddensity/core/error.hpp"

using namespace ld;

namespace {

std::unique_ptr<engine::CompiledTasks> compile(const Json& task_list, Json options = Json::object(),
                                               std::string host = "") {
  static params::Resolver resolver;
  static engine::NameTable names;
  auto proto = proto::http3::make_protocol();
  std::vector<Json> tasks(task_list.begin(), task_list.end());
  engine::CompileContext ctx{resolver, names, std::move(host), options};
  return proto->compile(tasks, ctx);
}

// The error a task list gets: "pointer | message".
std::string compile_error(const Json& task_list, Json options = Json::object(),
                          std::string host = "") {
  try {
    compile(task_list, std::move(options), std::move(host));
  } catch (const ConfigError& e) {
    return e.pointer() + " | " + e.what();
  }
  return "(no error)";
}

std::string task_error(const Json& task) {
  try {
    proto::http3::make_protocol()->validate_task(task);
  } catch (const ConfigError& e) {
    return e.pointer() + " | " + e.what();
  }
  return "(no error)";
}

std::string options_error(const Json& args) {
  try {
    proto::http3::make_protocol()->validate_options(args);
  } catch (const ConfigError& e) {
    return e.pointer() + " | " + e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Http3Compile, CompilesTheHttp2UsersRequests) {
  auto owner = compile(Json::parse(R"([
    {"method": "get", "url": "https://127.0.0.1:4433/a?x=1", "name": "a",
     "assertions": [{"type": "status_code", "value": 200}]},
    {"method": "post", "url": "https://localhost:4433/b", "json": {"k": "${uuid()}"}, "verify": false}
  ])"));
  auto* tasks = dynamic_cast<const proto::http3::Tasks*>(owner.get());
  ASSERT_NE(tasks, nullptr);
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ(tasks->base->steps[0].method, "GET");
  EXPECT_EQ(tasks->base->steps[0].url.target, "/a?x=1");
  EXPECT_TRUE(tasks->base->steps[0].checks != nullptr);
  EXPECT_TRUE(tasks->base->steps[1].dynamic_body);
  EXPECT_EQ(tasks->base->steps[0].ssl, nullptr);  // no OpenSSL context: GnuTLS does TLS
  ASSERT_EQ(tasks->tls.size(), 2u);
  EXPECT_TRUE(tasks->tls[0]->verify);
  EXPECT_FALSE(tasks->tls[1]->verify);
  EXPECT_NE(tasks->tls[0], tasks->tls[1]);
  EXPECT_EQ(tasks->max_streams, 1u);
}

TEST(Http3Compile, SharesCredentialsBetweenTasksWithTheSameSettings) {
  auto owner = compile(Json::parse(R"([
    {"method": "get", "url": "https://127.0.0.1:4433/a", "verify": false},
    {"method": "get", "url": "https://127.0.0.1:4433/b", "verify": false}
  ])"));
  auto* tasks = dynamic_cast<const proto::http3::Tasks*>(owner.get());
  EXPECT_EQ(tasks->tls[0], tasks->tls[1]);
}

TEST(Http3Compile, MaxStreamsOption) {
  auto owner = compile(Json::parse(R"([{"method": "get", "url": "https://127.0.0.1:4433/"}])"),
                       Json{{"max_streams", 8}});
  EXPECT_EQ(dynamic_cast<const proto::http3::Tasks*>(owner.get())->max_streams, 8u);
  EXPECT_EQ(options_error(Json{{"max_streams", 0}}).substr(0, 14), "/max_streams |");
  EXPECT_EQ(options_error(Json{{"max_streams", "x"}}).substr(0, 14), "/max_streams |");
  EXPECT_EQ(options_error(Json{{"max_streams", 4}}), "(no error)");
}

TEST(Http3Compile, RefusesPlainHttp) {
  const std::string e = task_error(Json::parse(R"({"method": "get", "url": "http://h:80/"})"));
  EXPECT_EQ(e.substr(0, 7), "/url | ") << e;
  EXPECT_NE(e.find("always TLS"), std::string::npos) << e;
  // A relative URL under an http:// host is refused when compiled, with the task's index.
  const std::string r = compile_error(Json::parse(R"([{"method": "get", "url": "/x"}])"),
                                      Json::object(), "http://127.0.0.1:8080");
  EXPECT_EQ(r.substr(0, 9), "/0/url | ") << r;
  EXPECT_NE(r.find("https://"), std::string::npos) << r;
}

TEST(Http3Compile, FieldErrorsNameFieldAndPointer) {
  // Unknown field, wrong types, bad method, connection-specific header: the HTTP/2 user's checks.
  EXPECT_EQ(
      task_error(Json::parse(R"({"method": "get", "url": "https://h/", "bogus": 1})")).substr(0, 9),
      "/bogus | ");
  EXPECT_EQ(task_error(Json::parse(R"({"method": "get", "url": "https://h/", "timeout": "x"})"))
                .substr(0, 11),
            "/timeout | ");
  EXPECT_EQ(task_error(Json::parse(R"({"method": "g t", "url": "https://h/"})")).substr(0, 10),
            "/method | ");
  EXPECT_EQ(
      task_error(
          Json::parse(R"({"method": "get", "url": "https://h/", "headers": {"Connection": "x"}})"))
          .substr(0, 22),
      "/headers/Connection | ");
  EXPECT_EQ(task_error(Json::parse(R"({"method": "get", "url": "https://h/", "verify": 3})"))
                .substr(0, 10),
            "/verify | ");
  EXPECT_EQ(task_error(Json::parse(R"({"url": "https://h/"})")).substr(0, 10), "/method | ");
}

TEST(Http3Compile, UnreadableCaBundleIsAFieldError) {
  const std::string e = compile_error(Json::parse(
      R"([{"method": "get", "url": "https://127.0.0.1:4433/", "verify": "/nonexistent/ca.pem"}])"));
  EXPECT_EQ(e.substr(0, 12), "/0/verify | ") << e;
  EXPECT_NE(e.find("cannot load CA bundle"), std::string::npos) << e;
  // A file that holds no certificate.
  const std::string path = ::testing::TempDir() + "/ld_http3_empty_ca.pem";
  std::ofstream(path) << "not a certificate\n";
  const std::string e2 = compile_error(
      Json::array({Json{{"method", "get"}, {"url", "https://127.0.0.1:4433/"}, {"verify", path}}}));
  EXPECT_EQ(e2.substr(0, 12), "/0/verify | ") << e2;
  std::remove(path.c_str());
}

TEST(Http3Compile, AsyncHttpUserTakesHttp3WhenAttached) {
  auto http2 = proto::http2::make_protocol(nullptr);
  // Not attached: "http3": true is refused with the option's pointer.
  try {
    http2->validate_options(Json{{"http3", true}});
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/http3");
  }
  auto http3 = proto::http3::make_protocol();
  proto::http2::set_http3(*http2, http3);
  EXPECT_NO_THROW(http2->validate_options(Json{{"http3", true}, {"max_streams", 4}}));
  try {
    http2->validate_options(Json{{"http3", true}, {"http2", false}});
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/http3");
  }
  static params::Resolver resolver;
  static engine::NameTable names;
  const Json options{{"http3", true}};
  engine::CompileContext ctx{resolver, names, "", options};
  auto compiled =
      http2->compile({Json::parse(R"({"method": "get", "url": "https://127.0.0.1:1/"})")}, ctx);
  EXPECT_NE(dynamic_cast<const proto::http3::Tasks*>(compiled.get()), nullptr);
}
