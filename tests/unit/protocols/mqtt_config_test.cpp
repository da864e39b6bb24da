// mqtt_user: bad task fields and options are ConfigErrors naming the field and its JSON pointer
// before anything runs; good tasks compile to the expected names, connection settings and
// templates.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loaddensity/core/error.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "mqtt/mqtt.hpp"
#include "mqtt/mqtt_impl.hpp"
#include "params/resolver.hpp"
#include "protocols/expect_config_error.hpp"

namespace ld::proto::mqtt {
namespace {

TEST(MqttConfig, BadTaskFieldsNameTheirPointer) {
  auto p = make_protocol();
  auto bad = [&](const Json& task, const std::string& ptr, const std::string& text) {
    expect_config_error([&] { p->validate_task(task); }, ptr, text);
  };
  bad({{"method", "publsh"}, {"topic", "t"}}, "/method", "did you mean 'publish'?");
  bad({{"topik", "t"}}, "/topik", "did you mean 'topic'?");
  bad({{"method", "publish"}}, "/topic", "missing");
  bad({{"method", "subscribe"}, {"topic", ""}}, "/topic", "non-empty");
  bad({{"topic", "a/+/b"}}, "/topic", "wildcards");
  bad({{"topic", "t"}, {"qos", 3}}, "/qos", "0, 1 or 2");
  bad({{"topic", "t"}, {"qos", "1"}}, "/qos", "must be integer");
  bad({{"topic", "t"}, {"measure", "e2e"}}, "/measure", "delivery");
  bad({{"method", "wait"}, {"count", 0}}, "/count", "from 1");
  bad({{"method", "wait"}, {"topic", "t"}}, "/topic", "only publish, subscribe");
  bad({{"method", "subscribe"}, {"topic", "t"}, {"payload", "x"}}, "/payload", "only publish");
  bad({{"method", "connect"}, {"expect", "x"}}, "/expect", "only wait");
  bad({{"method", "connect"}, {"version", "4"}}, "/version", "\"3.1.1\" or 5");
  bad({{"method", "connect"}, {"keepalive", -1}}, "/keepalive", "65535");
  bad({{"method", "connect"}, {"url", "http://h:1"}}, "/url", "");
  bad({{"method", "connect"}, {"url", "mqtt://h:1/topic"}}, "/url", "has a path");
  bad({{"method", "connect"}, {"timeout", 0}}, "/timeout", "positive");
  bad({{"topic", "t"}, {"payload", "hex:zz"}}, "/payload", "");
  bad({{"method", "wait"}, {"assertions", {{{"type", "status_code"}, {"value", 200}}}}},
      "/assertions/0/type", "");
}

TEST(MqttConfig, BadOptionsNameTheirPointer) {
  auto p = make_protocol();
  expect_config_error([&] { p->validate_options({{"mqtt_inbox", 0}}); }, "/mqtt_inbox", "from 1");
  p->validate_options({{"mqtt_inbox", 10}});
}

struct Compiled {
  engine::NameTable names;
  std::unique_ptr<engine::CompiledTasks> tasks;
  const Tasks& mqtt() const { return static_cast<const Tasks&>(*tasks); }
};

Compiled compile(const Json& tasks, const std::string& host = "") {
  params::Resolver resolver;
  resolver.set_variable("broker", "mqtts://broker.test:8884");
  Compiled c;
  const Json options = Json::object();
  engine::CompileContext ctx{resolver, c.names, host, options};
  std::vector<Json> list(tasks.begin(), tasks.end());
  c.tasks = make_protocol()->compile(list, ctx);
  return c;
}

TEST(MqttCompile, NamesConnectionsAndTemplates) {
  const Compiled c =
      compile(Json::array({
                  {{"topic", "t/${uuid()}"}, {"payload", {{"a", 1}}}, {"qos", 1}},
                  {{"method", "receive"}, {"count", 3}, {"expect", "x"}, {"name", "three"}},
                  {{"method", "connect"},
                   {"url", "${broker}"},
                   {"version", 5},
                   {"verify", false},
                   {"client_id", "c-${uuid()}"}},
              }),
              "mqtt://10.0.0.1:1999");
  const Tasks& t = c.mqtt();
  ASSERT_EQ(t.steps.size(), 3u);
  EXPECT_EQ(t.steps[0].method, Method::kPublish);
  EXPECT_FALSE(t.steps[0].topic.is_static());
  EXPECT_EQ(t.steps[0].payload.bytes, "{\"a\":1}");
  EXPECT_EQ(t.steps[0].qos, 1);
  EXPECT_EQ(t.steps[1].method, Method::kReceive);
  EXPECT_EQ(t.steps[1].count, 3u);
  EXPECT_EQ(c.names.at(t.steps[0].name_id).first, "MQTT");
  EXPECT_EQ(c.names.at(t.steps[0].name_id).second, "publish");
  EXPECT_EQ(c.names.at(t.steps[1].name_id).second, "three");
  EXPECT_EQ(c.names.at(t.connect_name_id).second, "connect");  // a task connects on first use
  // The first two share the default connection (LD_start_test host); the third has its own.
  EXPECT_EQ(t.steps[0].conn, t.steps[1].conn);
  ASSERT_EQ(t.conns.size(), 2u);
  EXPECT_EQ(t.conns[t.steps[0].conn].host, "10.0.0.1");
  EXPECT_EQ(t.conns[t.steps[0].conn].port, 1999);
  EXPECT_FALSE(t.conns[t.steps[0].conn].tls);
  const ConnSpec& own = t.conns[t.steps[2].conn];
  EXPECT_EQ(own.host, "broker.test");
  EXPECT_EQ(own.port, 8884);
  EXPECT_TRUE(own.tls);
  EXPECT_TRUE(own.ssl);
  EXPECT_FALSE(own.verify);
  EXPECT_EQ(own.version, 5);
  EXPECT_TRUE(own.has_client_id);
  EXPECT_FALSE(own.client_id.is_static());
}

}  // namespace
}  // namespace ld::proto::mqtt
