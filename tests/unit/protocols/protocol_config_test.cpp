// Bad input for websocket_user, sse_user and socket_user is a ConfigError naming the task index,
// the field and its JSON pointer, found before anything runs; good input compiles to the
// expected records.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loaddensity/protocol/protocol.hpp"
#include "loaddensity/core/error.hpp"
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

// Runs `fn`, expecting a ConfigError whose pointer is `pointer` and whose text has `text`.
template <class Fn>
void expect_config_error(Fn&& fn, const std::string& pointer, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "no ConfigError; wanted " << pointer << " " << text;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), pointer) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
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

}  // namespace
}  // namespace ld::proto
