// mongo_user: bad task fields, JSON and URLs are ConfigErrors naming the field and its JSON
// pointer before anything runs; good tasks compile to names, servers and BSON converted once
// (static) or templates rendered per request (placeholders).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loaddensity/core/error.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "mongo/mongo.hpp"
#include "mongo/mongo_impl.hpp"
#include "params/resolver.hpp"
#include "protocols/expect_config_error.hpp"

namespace ld::proto::mongo {
namespace {

TEST(MongoConfig, BadTaskFieldsNameTheirPointer) {
  auto p = make_protocol();
  auto bad = [&](const Json& task, const std::string& ptr, const std::string& text) {
    expect_config_error([&] { p->validate_task(task); }, ptr, text);
  };
  const Json c = "users";
  bad({{"method", "find_onne"}, {"collection", c}}, "/method", "did you mean 'find_one'?");
  bad({{"method", "find"}, {"colection", c}}, "/colection", "did you mean 'collection'?");
  bad({{"collection", c}}, "", "needs 'method'");
  bad({{"method", "find"}}, "/collection", "missing");
  bad({{"method", "find"}, {"collection", ""}}, "/collection", "non-empty");
  bad({{"method", "insert_one"}, {"collection", c}}, "/document", "missing");
  bad({{"method", "insert_many"}, {"collection", c}, {"documents", Json::array()}}, "/documents",
      "at least one");
  bad({{"method", "insert_many"}, {"collection", c}, {"documents", {{{"a", 1}}, 3}}},
      "/documents/1", "must be an object");
  bad({{"method", "update_one"}, {"collection", c}}, "/update", "missing");
  bad({{"method", "update_one"}, {"collection", c}, {"update", {{"name", "x"}}}}, "/update/name",
      "not an update operator");
  bad({{"method", "find"}, {"collection", c}, {"document", {{"a", 1}}}}, "/document",
      "only insert_one");
  bad({{"method", "insert_one"}, {"collection", c}, {"document", {{"a", 1}}}, {"filter", {{"a", 1}}}},
      "/filter", "only find_one");
  bad({{"method", "count"}, {"collection", c}, {"limit", 3}}, "/limit", "only find");
  bad({{"method", "find"}, {"collection", c}, {"limit", -1}}, "/limit", "0 (no limit)");
  bad({{"method", "find"}, {"collection", c}, {"filter", "{\"a\": 1}"}}, "/filter", "must be object");
  bad({{"method", "find"}, {"collection", c}, {"filter", {{"_id", {{"$oid", "nothex"}}}}}},
      "/filter", "not a document libbson accepts");
  bad({{"method", "find"}, {"collection", c}, {"url", "http://x"}}, "/url", "not a mongodb:// URL");
  bad({{"method", "find"}, {"collection", c}, {"url", "mongodb://"}}, "/url", "bad MongoDB URL");
  bad({{"method", "find"}, {"collection", c}, {"connection", {{"uri", 5}}}}, "/connection/uri",
      "must be a string");
  bad({{"method", "find"}, {"collection", c}, {"connection", {{"host", "x"}}}}, "/connection/host",
      "unknown key");
  bad({{"method", "find"}, {"collection", c}, {"timeout", 0}}, "/timeout", "");
  bad({{"method", "find"}, {"collection", c},
       {"assertions", {{{"type", "status_code"}, {"value", 200}}}}},
      "/assertions/0/type", "");
  expect_config_error([&] { p->validate_options({{"connection", "redis://x"}}); }, "/connection",
                      "not a mongodb:// URL");
  expect_config_error([&] { p->validate_options({{"connection", {{"timeout_ms", -1}}}}); },
                      "/connection/timeout_ms", "positive");
  // Placeholders inside extended JSON are checked once rendered.
  p->validate_task({{"method", "find_one"},
                    {"collection", "u-${uuid()}"},
                    {"filter", {{"n", {{"$numberInt", "${randint(1,9)}"}}}}},
                    {"connection", {{"uri", "mongodb://127.0.0.1:1"}, {"timeout_ms", 200}}},
                    {"expect_min", 1}});
}

struct Compiled {
  engine::NameTable names;
  std::unique_ptr<engine::CompiledTasks> tasks;
  const Tasks& mongo() const { return static_cast<const Tasks&>(*tasks); }
};

Compiled compile(const Json& tasks, const Json& options = Json::object()) {
  params::Resolver resolver;
  resolver.set_variable("db_url", "mongodb://10.0.0.1:27017");
  Compiled c;
  engine::CompileContext ctx{resolver, c.names, "", options};
  std::vector<Json> list(tasks.begin(), tasks.end());
  c.tasks = make_protocol()->compile(list, ctx);
  return c;
}

TEST(MongoCompile, StaticDocumentsAreBsonOnceAndPlaceholdersRender) {
  const Compiled c = compile(
      Json::array({
          {{"method", "find_one"}, {"collection", "users"}, {"filter", {{"name", "ada"}}}},
          {{"method", "insert_one"},
           {"collection", "users"},
           {"database", "app"},
           {"document", {{"name", "${uuid()}"}, {"n", {{"$numberLong", "7"}}}}},
           {"url", "${db_url}"},
           {"name", "add user"}},
          {{"method", "insert_many"},
           {"collection", "logs"},
           {"documents", {{{"_id", 1}}, {{"m", "${randint(1,2)}"}}}},
           {"connection", {{"uri", "${db_url}"}, {"timeout_ms", 250}}}},
          {{"method", "update_one"},
           {"collection", "users"},
           {"update", {{"$inc", {{"n", 1}}}}},
           {"upsert", true},
           {"timeout", 2}},
          {{"method", "find"}, {"collection", "users"}, {"limit", 5}, {"expect_min", 2}},
      }),
      {{"user_count", 3}});
  const Tasks& t = c.mongo();
  ASSERT_EQ(t.steps.size(), 5u);
  EXPECT_EQ(t.clients, 3u);
  EXPECT_EQ(c.names.at(t.steps[0].name_id).second, "find_one users");
  EXPECT_EQ(c.names.at(t.steps[1].name_id).second, "add user");
  EXPECT_EQ(c.names.at(t.steps[1].name_id).first, "MONGO");
  // Two servers: the default and the registered variable's (shared by steps 1 and 2).
  ASSERT_EQ(t.servers.size(), 2u);
  EXPECT_EQ(t.servers[0]->url, "mongodb://127.0.0.1:27017");
  EXPECT_EQ(t.servers[1]->url, "mongodb://10.0.0.1:27017");
  EXPECT_EQ(t.steps[1].server, 1u);
  EXPECT_EQ(t.steps[2].server, 1u);
  EXPECT_EQ(t.servers[1]->selection_timeout_ms, 5000);  // step 1's timeout, the larger
  EXPECT_EQ(t.servers[0]->socket_timeout_ms, 5000);
  // Static: BSON made once; dynamic: a template.
  ASSERT_FALSE(t.steps[0].filter.dynamic());
  EXPECT_TRUE(bson_has_field(t.steps[0].filter.fixed, "name"));
  EXPECT_TRUE(t.steps[1].document.dynamic());
  EXPECT_EQ(t.steps[1].database.text(), "app");
  EXPECT_FALSE(t.steps[2].documents[0].dynamic());
  EXPECT_TRUE(t.steps[2].documents[0].has_id);
  EXPECT_TRUE(t.steps[2].documents[1].dynamic());
  EXPECT_FALSE(t.steps[3].update.dynamic());
  EXPECT_TRUE(t.steps[3].upsert);
  EXPECT_EQ(t.steps[4].limit, 5);
  EXPECT_EQ(t.steps[4].expect_min, 2);
  EXPECT_EQ(t.steps[4].expect_message, "expect_min failed: at least 2 documents");

  // A dynamic document renders per request into the caller's buffer.
  params::UserScope scope(42);
  std::string text;
  bson_t* out = bson_new();
  bson_error_t error;
  const bson_t* b = t.steps[1].document.render(scope, text, out, &error);
  ASSERT_NE(b, nullptr) << error.message;
  bson_iter_t it;
  ASSERT_TRUE(bson_iter_init_find(&it, b, "name"));
  EXPECT_EQ(std::string(bson_iter_utf8(&it, nullptr)).size(), 36u);  // a uuid
  ASSERT_TRUE(bson_iter_init_find(&it, b, "n"));
  EXPECT_EQ(bson_iter_type(&it), BSON_TYPE_INT64);
  bson_destroy(out);
}

TEST(MongoCompile, ServerFromOptionsAndUnfixedUrlsRefused) {
  const Compiled c = compile(Json::array({{{"method", "count"}, {"collection", "c"}}}),
                             {{"connection", {{"uri", "mongodb://h:1/?appname=x"}}}});
  EXPECT_EQ(c.mongo().servers[0]->url, "mongodb://h:1/?appname=x");
  expect_config_error(
      [] {
        compile(Json::array({{{"method", "count"}, {"collection", "c"},
                              {"url", "mongodb://${uuid()}:1"}}}));
      },
      "/0/url", "not fixed for the run");
}

}  // namespace
}  // namespace ld::proto::mongo
