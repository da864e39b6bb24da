// Bad input for websocket_user, sse_user and socket_user is a ConfigError naming the task index,
// the field and its JSON pointer, found before anything runs; good input compiles to the
// expected records.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "action/registry.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "protocols/expect_config_error.hpp"
#include "socket/socket.hpp"
#include "sse/sse.hpp"
#include "websocket/websocket.hpp"

namespace ld::proto {
namespace {

struct Compiled {
  engine::NameTable names;
  std::unique_ptr<engine::CompiledTasks> tasks;
  std::vector<std::string> name_list() const {
    std::vector<std::string> out;
    for (std::uint32_t i = 0; i < names.size(); ++i) {
      out.push_back(names.at(i).first + " " + names.at(i).second);
    }
    return out;
  }
};

Compiled compile(const engine::Protocol& p, const Json& tasks, const std::string& host = "") {
  params::Resolver resolver;
  Compiled c;
  const Json options = Json::object();
  engine::CompileContext ctx{resolver, c.names, host, options};
  std::vector<Json> list(tasks.begin(), tasks.end());
  c.tasks = p.compile(list, ctx);
  return c;
}

TEST(WebSocketConfig, UnknownMethodSuggestsTheClosest) {
  auto p = websocket::make_protocol();
  expect_config_error(
      [&] {
        p->validate_task({{"method", "sned"}});
      },
      "/method", "unknown websocket_user method 'sned' (did you mean 'send'?)");
  expect_config_error(
      [&] {
        compile(*p,
                Json::array({{{"method", "connect"}, {"url", "ws://h/"}}, {{"method", "sned"}}}));
      },
      "/1/method", "task 1: task field 'method'");
}

TEST(WebSocketConfig, BadHexAndMisplacedFields) {
  auto p = websocket::make_protocol();
  expect_config_error(
      [&] {
        p->validate_task({{"method", "send"}, {"payload", "hex:0g"}});
      },
      "/payload", "bad hex digit 'g'");
  expect_config_error(
      [&] {
        p->validate_task({{"method", "recv"}, {"payload", "x"}});
      },
      "/payload", "only send and sendrecv");
  expect_config_error(
      [&] {
        p->validate_task({{"method", "send"}, {"expect", "x"}});
      },
      "/expect", "only recv and sendrecv");
  expect_config_error(
      [&] {
        p->validate_task({{"method", "send"}, {"paylod", "x"}});
      },
      "/paylod", "did you mean 'payload'");
  expect_config_error(
      [&] {
        p->validate_task({{"url", "http://h/"}});
      },
      "/url", "expected ws://, wss://");
  expect_config_error(
      [&] {
        p->validate_task({{"method", "recv"}, {"timeout", -1}});
      },
      "/timeout", "positive number");
}

TEST(WebSocketConfig, MissingUrlIsAnErrorAtTheTask) {
  auto p = websocket::make_protocol();
  expect_config_error(
      [&] {
        compile(*p, Json::array({{{"method", "send"}, {"payload", "x"}}}));
      },
      "/0", "no WebSocket URL");
}

TEST(StreamProtocolsConfig, WholeListChecksRunBeforeCompiling) {
  auto ws = websocket::make_protocol();
  const std::vector<Json> no_url = {{{"method", "send"}, {"payload", "x"}}};
  expect_config_error([&] { ws->validate_list(no_url, ""); }, "/0", "task 0: no WebSocket URL");
  ws->validate_list(no_url, "${var.base}");  // the host decides once resolved
  ws->validate_list({{{"url", "ws://h/"}}, {{"method", "recv"}}}, "");
  auto sse = sse::make_protocol();
  expect_config_error(
      [&] {
        sse->validate_list({{{"method", "wait"}, {"url", "http://h/"}}, {{"method", "open"}}}, "");
      },
      "/1", "task 1: an open task needs 'request_url'");
  expect_config_error(
      [&] {
        sse->validate_list({{{"method", "wait"}}}, "");
      },
      "/0", "no event stream");
  sse->validate_list({{{"method", "open"}}, {{"method", "wait"}}}, "http://h/");
  auto sock = socket::make_protocol();
  expect_config_error(
      [&] {
        sock->validate_list({{{"target", "h:1"}, {"payload", "x"}}, {{"payload", "x"}}}, "");
      },
      "/1", "task 1: task needs 'target'");
  sock->validate_list({{{"payload", "x"}}}, "h:1");
}

TEST(WebSocketConfig, TasksWithoutUrlUseTheLastUrlBeforeThem) {
  auto p = websocket::make_protocol();
  const Compiled c = compile(*p, Json::array({
                                     {{"method", "connect"}, {"url", "ws://127.0.0.1:1/a"}},
                                     {{"method", "sendrecv"}, {"payload", "hi"}},
                                     {{"method", "connect"}, {"url", "ws://127.0.0.1:1/b"}},
                                     {{"method", "recv"}},
                                     {{"method", "close"}, {"name", "bye"}},
                                 }));
  EXPECT_EQ(c.tasks->size(), 5u);
  EXPECT_EQ(c.name_list(),
            (std::vector<std::string>{
                "WS connect ws://127.0.0.1:1/a", "WS connect ws://127.0.0.1:1/b",
                "WS sendrecv ws://127.0.0.1:1/a", "WS recv ws://127.0.0.1:1/b", "WS bye"}));
  EXPECT_EQ(c.tasks->max_timeout(), 5 * kNanosPerSecond);  // the original's default
}

TEST(WebSocketConfig, HostIsTheDefaultUrl) {
  auto p = websocket::make_protocol();
  const Compiled c = compile(*p, Json::array({{{"payload", "x"}}}), "ws://127.0.0.1:1/");
  EXPECT_EQ(c.name_list(), (std::vector<std::string>{"WS connect ws://127.0.0.1:1/",
                                                     "WS send ws://127.0.0.1:1/"}));
}

TEST(SseConfig, BadFields) {
  auto p = sse::make_protocol();
  expect_config_error(
      [&] {
        p->validate_task({{"method", "listen"}});
      },
      "/method", "use open, connect, wait or close");
  expect_config_error(
      [&] {
        p->validate_task({{"method", "wait"}, {"count", 0}});
      },
      "/count", "from 1 to 1000000");
  expect_config_error(
      [&] {
        p->validate_task({{"method", "open"}, {"expect", "x"}});
      },
      "/expect", "only a wait task");
  expect_config_error(
      [&] {
        p->validate_task({{"method", "open"}, {"url", "ws://h/"}});
      },
      "/url", "expected http://, https://");
  expect_config_error(
      [&] {
        p->validate_task({{"headers", {{"A", {1}}}}});
      },
      "/headers/A", "must be a string or number");
  expect_config_error(
      [&] {
        compile(*p, Json::array({{{"method", "open"}}}));
      },
      "/0", "needs 'request_url'");
  expect_config_error(
      [&] {
        compile(*p, Json::array({{{"method", "wait"}}}));
      },
      "/0", "no event stream");
}

TEST(SseConfig, NamesForOpenFirstEventAndWait) {
  auto p = sse::make_protocol();
  const Compiled c = compile(*p, Json::array({
                                     {{"method", "open"}, {"url", "http://127.0.0.1:1/sse"}},
                                     {{"method", "wait"}, {"expect", "5"}},
                                     {{"method", "wait"}, {"name", "tick"}, {"count", 3}},
                                     {{"method", "close"}},
                                 }));
  EXPECT_EQ(c.tasks->size(), 4u);
  EXPECT_EQ(c.name_list(),
            (std::vector<std::string>{"SSE http://127.0.0.1:1/sse",
                                      "SSE http://127.0.0.1:1/sse first event",
                                      "SSE http://127.0.0.1:1/sse event", "SSE tick"}));
  EXPECT_EQ(c.tasks->max_timeout(), 30 * kNanosPerSecond);
}

TEST(SocketConfig, BadFields) {
  auto p = socket::make_protocol();
  expect_config_error(
      [&] {
        p->validate_task({{"protocol", "sctp"}});
      },
      "/protocol", "use \"tcp\" or \"udp\"");
  expect_config_error(
      [&] {
        p->validate_task({{"target", "localhost"}});
      },
      "/target", "needs a port");
  expect_config_error([&] { p->validate_task({{"host", "h:70000"}}); }, "/host", "1 to 65535");
  expect_config_error(
      [&] {
        p->validate_task({{"expect_bytes", -1}});
      },
      "/expect_bytes", "byte count");
  expect_config_error(
      [&] {
        p->validate_task({{"payload", "hex:abc"}});
      },
      "/payload", "odd number of hex digits");
  expect_config_error(
      [&] {
        p->validate_task({{"expect_substring", "hex:zz"}});
      },
      "/expect_substring", "bad hex digit 'z'");
  expect_config_error(
      [&] {
        compile(*p, Json::array({{{"payload", "x"}}}));
      },
      "/0", "needs 'target'");
  expect_config_error(
      [&] {
        compile(*p, Json::array(
                        {{{"target", "127.0.0.1:9"}, {"protocol", "udp"}, {"expect_bytes", 4}}}));
      },
      "/0/payload", "must send a datagram");
  expect_config_error(
      [&] {
        compile(*p, Json::array({{{"target", "127.0.0.1:9"}}}));
      },
      "/0", "sends nothing and reads nothing");
}

TEST(SocketConfig, DefaultNamesAndHostAsTarget) {
  auto p = socket::make_protocol();
  const Compiled c = compile(*p,
                             Json::array({
                                 {{"payload", "PING\n"}, {"expect_substring", "PING"}},
                                 {{"protocol", "UDP"},
                                  {"target", "127.0.0.1:7"},
                                  {"payload", "hex:DEADBEEF"},
                                  {"expect_bytes", 4},
                                  {"timeout", 0.5}},
                             }),
                             "127.0.0.1:9000");
  EXPECT_EQ(c.name_list(),
            (std::vector<std::string>{"TCP tcp:127.0.0.1:9000", "UDP udp:127.0.0.1:7"}));
  EXPECT_EQ(c.tasks->max_timeout(), 5 * kNanosPerSecond);
}

// A JSON value of the first type `mask` accepts, and one of a type it does not.
Json sample_of(unsigned mask) {
  if (mask & action::kString) return "x";
  if (mask & (action::kInteger | action::kNumber)) return 1;
  if (mask & action::kBool) return true;
  if (mask & action::kObject) return Json::object();
  return Json::array();
}
Json wrong_for(unsigned mask) {
  if (!(mask & action::kBool)) return true;
  if (!(mask & action::kObject)) return Json::object();
  if (!(mask & action::kString)) return "x";
  return Json();  // null
}

TEST(TaskFieldDeclarations, DriveUnknownFieldAndTypeChecks) {
  const std::vector<std::shared_ptr<engine::Protocol>> protocols = {
      websocket::make_protocol(), sse::make_protocol(), socket::make_protocol()};
  for (const auto& p : protocols) {
    for (const auto& type : p->user_types()) {
      const std::vector<action::Param> fields = p->task_fields(type);
      ASSERT_FALSE(fields.empty()) << type;
      for (const auto& f : fields) {
        EXPECT_FALSE(f.help.empty()) << type << " " << f.name;
        // A value of a declared type passes the declared-field check (later checks may still
        // refuse the task for other reasons, e.g. a socket task that reads nothing).
        try {
          p->validate_task({{f.name, sample_of(f.types)}});
        } catch (const ConfigError& e) {
          const std::string what = e.what();
          EXPECT_EQ(what.find("unknown task field"), std::string::npos) << type << ": " << what;
          EXPECT_EQ(what.find("must be " + action::type_mask_name(f.types)), std::string::npos)
              << type << ": " << what;
        }
        // A value of another type is refused with a pointer to the field.
        if (f.types == action::kAny) continue;
        expect_config_error(
            [&] {
              p->validate_task({{f.name, wrong_for(f.types)}});
            },
            "/" + f.name,
            "task field '" + f.name + "': must be " + action::type_mask_name(f.types) + ", got ");
      }
      // A field nobody declared: rejected with the closest declared one.
      expect_config_error(
          [&] {
            p->validate_task({{"nmae", "x"}});
          },
          "/nmae", "unknown task field 'nmae' for a");
      expect_config_error(
          [&] {
            p->validate_task({{"nmae", "x"}});
          },
          "/nmae", "(did you mean 'name'?)");
    }
  }
}

TEST(StreamChecks, OnlyTasksWithAReplyTakeBodyChecks) {
  auto ws = websocket::make_protocol();
  const Json contains = Json::array({{{"type", "contains"}, {"value", "ok"}}});
  ws->validate_task({{"method", "sendrecv"}, {"payload", "x"}, {"assertions", contains}});
  expect_config_error(
      [&] {
        ws->validate_task({{"method", "send"}, {"payload", "x"}, {"assertions", contains}});
      },
      "/assertions", "only recv and sendrecv tasks have a reply to check");
  expect_config_error(
      [&] {
        ws->validate_task(
            {{"method", "recv"},
             {"assertions", Json::array({{{"type", "status_code"}, {"value", 200}}})}});
      },
      "/assertions/0/type", "needs an HTTP response; this reply has a body only");
  expect_config_error(
      [&] {
        ws->validate_task(
            {{"method", "recv"},
             {"extract", Json::array({{{"var", "v"}, {"from", "header"}, {"name", "X"}}})}});
      },
      "/extract/0/from", "needs an HTTP response");
  auto sse = sse::make_protocol();
  sse->validate_task(
      {{"method", "wait"}, {"extract", Json::array({{{"var", "v"}, {"path", "id"}}})}});
  expect_config_error(
      [&] {
        sse->validate_task({{"method", "open"}, {"assertions", contains}});
      },
      "/assertions", "only a wait task has events to check");
  // Checks alone make a socket task read its reply.
  auto sock = socket::make_protocol();
  sock->validate_task({{"target", "h:1"}, {"assertions", contains}});
}

TEST(StreamPlaceholders, PerRequestPartsMustLeaveTheTargetFixed) {
  expect_config_error(
      [&] {
        compile(*websocket::make_protocol(),
                Json::array({{{"method", "connect"}, {"url", "ws://${randint(1,2)}.test/"}}}));
      },
      "/0/url", "not in the scheme, host or port");
  expect_config_error(
      [&] {
        compile(*socket::make_protocol(),
                Json::array({{{"target", "127.0.0.1:${randint(1,9)}"}, {"payload", "x"}}}));
      },
      "/0/target", "fixed for the run");
  // Per-request parts in the path, query and headers compile.
  compile(*websocket::make_protocol(), Json::array({{{"method", "connect"},
                                                     {"url", "ws://127.0.0.1:1/chat?id=${uuid()}"},
                                                     {"headers", {{"X-Id", "${uuid()}"}}}}}));
  compile(*sse::make_protocol(),
          Json::array({{{"method", "open"}, {"url", "http://127.0.0.1:1/sse?u=${uuid()}"}}}));
}

}  // namespace
}  // namespace ld::proto
