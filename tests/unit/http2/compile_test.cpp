// HTTP/2 task validation and compilation: the pre-built header block, bodies, options and the
// errors bad input gets (message and JSON pointer).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "action/registry.hpp"
#include "http2/http2.hpp"
#include "http2/http2_impl.hpp"
#include "loaddensity/core/error.hpp"

using namespace ld;
using ld::proto::http2::Step;
using ld::proto::http2::Tasks;

namespace {

struct Compiled {
  std::unique_ptr<engine::CompiledTasks> owner;
  const Tasks* tasks = nullptr;
};

Compiled compile(const Json& task_list, Json options = Json::object(), std::string host = "") {
  static params::Resolver resolver;
  static engine::NameTable names;
  auto proto = proto::http2::make_protocol(nullptr);
  std::vector<Json> tasks(task_list.begin(), task_list.end());
  engine::CompileContext ctx{resolver, names, std::move(host), options};
  Compiled c;
  c.owner = proto->compile(tasks, ctx);
  c.tasks = dynamic_cast<const Tasks*>(c.owner.get());
  return c;
}

std::multimap<std::string, std::string> headers(const Step& s) {
  std::multimap<std::string, std::string> out;
  for (const auto& h : s.nva) {
    out.emplace(std::string(reinterpret_cast<const char*>(h.name), h.namelen),
                std::string(reinterpret_cast<const char*>(h.value), h.valuelen));
  }
  return out;
}

std::string pointer_of_task(const Json& task) {
  try {
    proto::http2::make_protocol(nullptr)->validate_task(task);
  } catch (const ConfigError& e) {
    return e.pointer();
  }
  return "(no error)";
}

std::string pointer_of_options(const Json& args) {
  try {
    proto::http2::make_protocol(nullptr)->validate_options(args);
  } catch (const ConfigError& e) {
    return e.pointer();
  }
  return "(no error)";
}

}  // namespace

TEST(Http2Compile, HeaderBlockStartsWithPseudoHeadersInOrder) {
  auto c = compile(Json::parse(R"([{"method": "get", "request_url": "http://h.test:8080/a",
      "params": {"q": "a b", "n": [1, 2]}, "headers": {"X-Trace": "7"}}])"));
  ASSERT_NE(c.tasks, nullptr);
  const Step& s = c.tasks->steps.at(0);
  ASSERT_GE(s.nva.size(), 4u);
  auto name = [&](std::size_t i) {
    return std::string(reinterpret_cast<const char*>(s.nva[i].name), s.nva[i].namelen);
  };
  EXPECT_EQ(name(0), ":method");
  EXPECT_EQ(name(1), ":scheme");
  EXPECT_EQ(name(2), ":authority");
  EXPECT_EQ(name(3), ":path");
  const auto h = headers(s);
  EXPECT_EQ(h.find(":method")->second, "GET");
  EXPECT_EQ(h.find(":scheme")->second, "http");
  EXPECT_EQ(h.find(":authority")->second, "h.test:8080");
  EXPECT_EQ(h.find(":path")->second, "/a?n=1&n=2&q=a%20b");
  EXPECT_EQ(h.find("x-trace")->second, "7") << "header names are sent in lower case";
  EXPECT_EQ(h.count("X-Trace"), 0u);
  EXPECT_EQ(h.count("content-length"), 0u) << "a GET without a body has no content-length";
  EXPECT_EQ(h.count("user-agent"), 1u);
  for (const auto& nv : s.nva) {
    EXPECT_EQ(nv.flags, NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE)
        << "nothing is copied per request";
  }
}

TEST(Http2Compile, JsonBodyAuthCookiesAndHostHeader) {
  auto c = compile(Json::parse(R"([{"method": "Post", "url": "/p", "json": {"a": 1},
      "auth": {"type": "basic", "username": "u", "password": "p"},
      "cookies": {"c": "v", "d": 2}, "headers": {"Host": "other.test"}}])"),
                   Json::object(), "https://base.test/");
  const Step& s = c.tasks->steps.at(0);
  const auto h = headers(s);
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(h.find(":scheme")->second, "https");
  EXPECT_EQ(h.find(":authority")->second, "other.test");
  EXPECT_EQ(h.find(":path")->second, "/p");
  EXPECT_EQ(h.find("authorization")->second, "Basic dTpw");
  EXPECT_EQ(h.find("cookie")->second, "c=v; d=2");
  EXPECT_EQ(h.find("content-type")->second, "application/json");
  EXPECT_EQ(h.find("content-length")->second, "7");
  EXPECT_EQ(s.body, R"({"a":1})");
  EXPECT_NE(s.ssl, nullptr) << "https gets a TLS context (with ALPN h2)";
  EXPECT_EQ(h.count("host"), 0u);
}

TEST(Http2Compile, FormDataAndRedirectDefaults) {
  auto c = compile(Json::parse(R"([{"method": "put", "url": "http://h/x", "data": {"k": "a b"},
      "follow_redirects": false, "timeout": 2.5},
      {"method": "propfind", "url": "http://h/y"}])"));
  const Step& s = c.tasks->steps.at(0);
  EXPECT_EQ(s.body, "k=a%20b");
  EXPECT_EQ(headers(s).find("content-type")->second, "application/x-www-form-urlencoded");
  EXPECT_FALSE(s.allow_redirects);
  EXPECT_EQ(s.timeout, 2'500'000'000);
  EXPECT_TRUE(c.tasks->steps.at(1).allow_redirects);
  EXPECT_EQ(c.tasks->steps.at(1).method, "PROPFIND") << "any method token is accepted";
  // The redirect header range excludes pseudo-headers and content-* fields.
  for (std::size_t i = s.common_begin; i < s.common_end; ++i) {
    const std::string n(reinterpret_cast<const char*>(s.nva[i].name), s.nva[i].namelen);
    EXPECT_NE(n.front(), ':');
    EXPECT_NE(n.rfind("content-", 0), 0u) << n;
  }
}

TEST(Http2Compile, PathIsPercentEncodedAndHostBecomesTheAuthorityOnly) {
  auto c = compile(Json::parse(R"([{"method": "post", "url": "http://h:81/a b/\u00e9?x=1 2",
      "params": "y=3 4", "data": "x", "headers": {"HOST": "virt.test:8080"}}])"));
  const Step& s = c.tasks->steps.at(0);
  const auto h = headers(s);
  EXPECT_EQ(h.find(":path")->second, "/a%20b/%C3%A9?x=1%202&y=3%204");
  EXPECT_EQ(h.find(":authority")->second, "virt.test:8080");
  EXPECT_EQ(h.count("host"), 0u);
  EXPECT_EQ(h.count("content-length"), 1u);
  EXPECT_EQ(h.find("content-length")->second, "1");
}

TEST(Http2Compile, MaxStreamsComesFromTheOptions) {
  const Json t = Json::parse(R"([{"method": "get", "url": "http://h/"}])");
  EXPECT_EQ(compile(t).tasks->max_streams, 1u);
  EXPECT_EQ(compile(t, Json{{"max_streams", 10}}).tasks->max_streams, 10u);
}

TEST(Http2Compile, BadTasksNameTheField) {
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/",
      "headers": {"Connection": "close"}})")),
            "/headers/Connection");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/",
      "headers": {"te": "gzip"}})")),
            "/headers/te");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/", "tiemout": 1})")),
            "/tiemout");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "g e t", "url": "http://h/"})")), "/method");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"url": "http://h/"})")), "/method");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/",
      "json": {}, "data": "x"})")),
            "/data");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/",
      "headers": {"x": "a\nb"}})")),
            "/headers/x")
      << "literal line breaks are found before anything runs";
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/",
      "headers": {"x\r\ny": "1"}})")),
            "/headers/x\r\ny");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/a\u0000"})")),
            "/url");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "post", "url": "http://h/", "data": "x",
      "headers": {"Content-Length": "1000"}})")),
            "/headers/Content-Length");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "post", "url": "http://h/", "data": "x",
      "headers": {"Transfer-Encoding": "chunked"}})")),
            "/headers/Transfer-Encoding");
  EXPECT_EQ(pointer_of_task(Json::parse(R"({"method": "get", "url": "http://h/",
      "cookies": {"c": "a\r\nb"}})")),
            "/cookies/c");
  try {
    compile(Json::parse(R"([{"method": "get", "url": "http://h/", "headers": {"Host": "a b"}}])"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/0/headers/Host");
    EXPECT_NE(std::string(e.what()).find(":authority"), std::string::npos) << e.what();
  }
  try {
    compile(Json::parse(R"([{"method": "get", "url": "/rel"}])"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/0/url");
    EXPECT_NE(std::string(e.what()).find("no 'host'"), std::string::npos) << e.what();
  }
}

TEST(Http2Compile, PerRequestPartsBecomeTemplatesAndFixedOnesStayPrebuilt) {
  // Registered variables are folded; functions stay per request.
  const Json fixed = Json::parse(R"([{"method": "post", "url": "http://h/a?x=1",
      "headers": {"X-Id": "7"}, "json": {"id": 1}}])");
  const Compiled cf = compile(fixed);
  const Step& f = cf.tasks->steps.at(0);
  EXPECT_FALSE(f.dynamic);
  EXPECT_TRUE(f.dyn_headers.empty());
  EXPECT_EQ(f.body, R"({"id":1})");
  const Json per_request = Json::parse(R"([{"method": "post",
      "url": "http://h/a/${uuid()}?x=1", "params": {"r": "${randint(1,9)}"},
      "headers": {"X-Id": "${uuid()}", "X-Fixed": "1"}, "auth": ["u", "${uuid()}"],
      "json": {"id": "${uuid()}"}}])");
  const Compiled cd = compile(per_request);
  const Step& d = cd.tasks->steps.at(0);
  EXPECT_TRUE(d.dynamic);
  EXPECT_FALSE(d.path_tpl.is_static());
  EXPECT_TRUE(d.dynamic_body);
  // x-id and authorization are rendered per request; x-fixed stays in the prebuilt block.
  std::map<std::string, bool> dyn;  // header name -> basic auth
  for (const auto& h : d.dyn_headers) dyn[d.headers.at(h.index).first] = h.basic;
  EXPECT_EQ(dyn, (std::map<std::string, bool>{{"authorization", true}, {"x-id", false}}));
  // The host is fixed for the run: one connection per origin.
  try {
    compile(Json::parse(R"([{"method": "get", "url": "http://${uuid()}.test/"}])"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/0/url");
    EXPECT_NE(std::string(e.what()).find("not in the scheme, host or port"), std::string::npos);
  }
}

TEST(Http2Compile, TaskFieldsAreDeclared) {
  auto p = proto::http2::make_protocol(nullptr);
  std::vector<std::string> names;
  for (const auto& f : p->task_fields("async_http_user")) names.push_back(f.name);
  for (const char* want : {"method", "request_url", "headers", "json", "assertions", "extract"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  EXPECT_EQ(std::find(names.begin(), names.end(), "files"), names.end());  // HTTP/1.1 only
  try {
    p->validate_task(Json::parse(R"({"method": "get", "url": "http://h/", "headers": "x"})"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/headers");
    EXPECT_STREQ(e.what(), "task field 'headers': must be object, got string \"x\"");
  }
}

TEST(Http2Compile, BadOptionsNameTheArgument) {
  EXPECT_EQ(pointer_of_options(Json{{"max_streams", 0}}), "/max_streams");
  EXPECT_EQ(pointer_of_options(Json{{"max_streams", 1001}}), "/max_streams");
  EXPECT_EQ(pointer_of_options(Json{{"max_streams", "ten"}}), "/max_streams");
  EXPECT_EQ(pointer_of_options(Json{{"max_streams", 128}}), "(no error)");
  EXPECT_EQ(pointer_of_options(Json{{"http2", "yes"}}), "/http2");
  // Without an HTTP/1.1 protocol to hand the tasks to, http2=false cannot run.
  EXPECT_EQ(pointer_of_options(Json{{"http2", false}}), "/http2");
  EXPECT_EQ(pointer_of_options(Json{{"http2", true}}), "(no error)");
}
