// kafka_user: bad task fields and options are ConfigErrors naming the field and its JSON pointer
// before anything runs (librdkafka checks `config`); good tasks compile to the expected names,
// templates and clusters (tasks naming the same brokers and settings share one).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kafka/kafka.hpp"
#include "kafka/kafka_impl.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"
#include "protocols/expect_config_error.hpp"

namespace ld::proto::kafka {
namespace {

TEST(KafkaConfig, BadTaskFieldsNameTheirPointer) {
  auto p = make_protocol();
  auto bad = [&](const Json& task, const std::string& ptr, const std::string& text) {
    expect_config_error([&] { p->validate_task(task); }, ptr, text);
  };
  bad({{"method", "produse"}, {"topic", "t"}}, "/method", "did you mean 'produce'?");
  bad({{"method", "produce"}, {"topik", "t"}}, "/topik", "did you mean 'topic'?");
  bad({{"topic", "t"}}, "", "needs 'method'");
  bad({{"method", "consume"}}, "/topic", "missing");
  bad({{"method", "produce"}, {"topic", ""}}, "/topic", "non-empty");
  bad({{"method", "flush"}, {"topic", "t"}}, "/topic", "only produce and consume");
  bad({{"method", "consume"}, {"topic", "t"}, {"value", "v"}}, "/value", "only produce");
  bad({{"method", "produce"}, {"topic", "t"}, {"expect", "v"}}, "/expect", "only consume");
  bad({{"method", "consume"}, {"topic", "t"}, {"from", "middle"}}, "/from", "latest or earliest");
  bad({{"method", "produce"}, {"topic", "t"}, {"headers", {{"h", {1, 2}}}}}, "/headers/h",
      "string or number");
  bad({{"method", "produce"}, {"topic", "t"}, {"config", {{"no.such.setting", "1"}}}},
      "/config/no.such.setting", "librdkafka refused it");
  bad({{"method", "produce"}, {"topic", "t"}, {"config", {{"acks", Json::array()}}}},
      "/config/acks", "must be a string");
  bad({{"method", "produce"}, {"topic", "t"}, {"bootstrap_servers", Json::array()}},
      "/bootstrap_servers", "non-empty");
  bad({{"method", "consume"}, {"topic", "t"}, {"timeout", 0}}, "/timeout", "");
  expect_config_error(
      [&] {
        p->validate_options({{"bootstrap_servers", 5}});
      },
      "/bootstrap_servers", "host:port");
  p->validate_task({{"method", "consume"},
                    {"topic", "t-${uuid()}"},
                    {"group", "g"},
                    {"from", "Earliest"},
                    {"expect", 3},
                    {"config", {{"fetch.wait.max.ms", 10}, {"client.id", "${uuid()}"}}}});
}

struct Compiled {
  engine::NameTable names;
  std::unique_ptr<engine::CompiledTasks> tasks;
  const Tasks& kafka() const { return static_cast<const Tasks&>(*tasks); }
};

Compiled compile(const Json& tasks, const Json& options = Json::object()) {
  params::Resolver resolver;
  resolver.set_variable("brokers", "10.0.0.1:9092");
  Compiled c;
  engine::CompileContext ctx{resolver, c.names, "", options};
  std::vector<Json> list(tasks.begin(), tasks.end());
  c.tasks = make_protocol()->compile(list, ctx);
  return c;
}

TEST(KafkaCompile, NamesTemplatesAndSharedClusters) {
  const Compiled c =
      compile(Json::array({
                  {{"method", "produce"},
                   {"topic", "orders"},
                   {"value", {{"id", "${uuid()}"}}},
                   {"key", 7},
                   {"headers", {{"b", "2"}, {"a", "${randint(1,2)}"}}},
                   {"timeout", 2}},
                  {{"method", "consume"},
                   {"topic", "orders"},
                   {"from", "earliest"},
                   {"expect", "id"},
                   {"name", "read"}},
                  {{"method", "flush"}, {"bootstrap_servers", {"${brokers}", "h2:9092"}}},
                  {{"method", "close"}},
              }),
              {{"bootstrap_servers", "127.0.0.1:9092"}});
  const Tasks& t = c.kafka();
  ASSERT_EQ(t.steps.size(), 4u);
  EXPECT_EQ(c.names.at(t.steps[0].name_id),
            std::make_pair(std::string("KAFKA"), std::string("produce orders")));
  EXPECT_EQ(c.names.at(t.steps[1].name_id).second, "read");
  EXPECT_EQ(c.names.at(t.steps[2].name_id).second, "flush");
  const Step& p = t.steps[0];
  EXPECT_EQ(p.method, Method::kProduce);
  EXPECT_FALSE(p.value.is_static());
  EXPECT_EQ(p.key.text(), "7");
  ASSERT_EQ(p.headers.size(), 2u);
  EXPECT_EQ(p.headers[0].name, "a");  // in name order
  EXPECT_EQ(p.timeout, 2 * kNanosPerSecond);
  EXPECT_TRUE(t.steps[1].from_earliest);
  EXPECT_EQ(t.steps[1].expect_message, "expect failed: value contains 'id'");
  // The default brokers (produce, consume, close) and the flush's own: two clusters.
  ASSERT_EQ(t.clusters.size(), 2u);
  EXPECT_EQ(t.steps[0].cluster, t.steps[1].cluster);
  EXPECT_EQ(t.steps[0].cluster, t.steps[3].cluster);
  EXPECT_EQ(t.clusters[0]->bootstrap, "127.0.0.1:9092");
  EXPECT_EQ(t.clusters[1]->bootstrap, "10.0.0.1:9092,h2:9092");
  EXPECT_TRUE(t.clusters[0]->produces);
  EXPECT_EQ(t.clusters[0]->max_produce_timeout, 2 * kNanosPerSecond);
  EXPECT_TRUE(t.clusters[1]->produces);  // flush needs the producer
  EXPECT_EQ(t.max_timeout(), 5 * kNanosPerSecond);
}

TEST(KafkaCompile, DefaultBrokersAndFixedPlaceholders) {
  const Compiled c = compile(Json::array({{{"method", "consume"}, {"topic", "t"}}}));
  EXPECT_EQ(c.kafka().clusters[0]->bootstrap, "localhost:9092");
  EXPECT_FALSE(c.kafka().clusters[0]->produces);
  expect_config_error(
      [] {
        compile(Json::array(
            {{{"method", "consume"}, {"topic", "t"}, {"bootstrap_servers", "h-${uuid()}:9092"}}}));
      },
      "/0/bootstrap_servers", "not fixed for the run");
}

}  // namespace
}  // namespace ld::proto::kafka
