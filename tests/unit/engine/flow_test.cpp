#include "engine/flow.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "loaddensity/core/error.hpp"

using namespace ld;
using namespace ld::engine;

namespace {

struct Fixture {
  params::Resolver resolver;
  std::set<std::string> user_vars{"token"};
  params::ParseContext ctx{resolver, &user_vars};
  params::UserScope scope{1};

  bool eval(const char* spec) {
    return Predicate::compile(Json::parse(spec), ctx, "/run_if").eval(scope);
  }
};

}  // namespace

TEST(Predicate, TableOfTheOriginalSemantics) {
  Fixture f;
  f.resolver.set_variable("env", "prod");
  f.resolver.set_variable("empty", "");
  struct Row {
    const char* spec;
    bool want;
  } rows[] = {
      {"true", true},
      {"false", false},
      {"0", false},
      {"3", true},
      {R"("${env}")", true},
      {R"("${empty}")", false},
      {R"("${unknown}")", true},  // an unresolved placeholder is a non-empty string
      {R"({"equals": ["${env}", "prod"]})", true},
      {R"({"equals": ["${env}", "dev"]})", false},
      {R"({"not_equals": ["${env}", "dev"]})", true},
      {R"({"in": ["${env}", ["dev", "prod"]]})", true},
      {R"({"in": ["ro", "${env}"]})", true},
      {R"({"in": ["x", ["dev", "prod"]]})", false},
      {R"({"truthy": "${empty}"})", false},
      {R"({"equals": [1, 1.0]})", true},
      {R"({"equals": ["1", 1]})", false},
  };
  for (const Row& r : rows) EXPECT_EQ(f.eval(r.spec), r.want) << r.spec;
}

TEST(Predicate, ReadsPerUserVariables) {
  Fixture f;
  EXPECT_TRUE(f.eval(R"({"equals": ["${token}", "${token}"]})"));
  EXPECT_FALSE(f.eval(R"({"equals": ["${token}", "abc"]})"));
  f.scope.set("token", "abc");
  EXPECT_TRUE(f.eval(R"({"equals": ["${token}", "abc"]})"));
}

TEST(Predicate, UnknownOperatorIsAConfigError) {
  Fixture f;
  try {
    f.eval(R"({"equal": [1, 1]})");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("equal"), std::string::npos);
    EXPECT_EQ(e.pointer(), "/run_if");
  }
}

TEST(Throttle, SlotsAreSpacedByTheRateWithBurst) {
  Throttle t(10, 3);  // 10/s, burst 3
  const Nanos now = 1'000'000'000'000;
  EXPECT_EQ(t.reserve(now), now);
  EXPECT_EQ(t.reserve(now), now);
  EXPECT_EQ(t.reserve(now), now);
  EXPECT_EQ(t.reserve(now), now + 100'000'000);
  EXPECT_EQ(t.reserve(now), now + 200'000'000);
  // After a long idle period only `burst` requests go at once again.
  const Nanos later = now + 10'000'000'000;
  EXPECT_EQ(t.reserve(later), later);
  EXPECT_EQ(t.reserve(later), later);
  EXPECT_EQ(t.reserve(later), later);
  EXPECT_EQ(t.reserve(later), later + 100'000'000);
}

TEST(Throttle, ExactAcrossThreads) {
  Throttle t(1000, 1);
  const Nanos now = 5'000'000'000;
  std::vector<std::thread> threads;
  std::vector<std::vector<Nanos>> got(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 2500; ++k) got[i].push_back(t.reserve(now));
    });
  }
  for (auto& th : threads) th.join();
  std::vector<Nanos> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  // 10,000 slots, each exactly 1 ms apart: none shared, none skipped.
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], now + static_cast<Nanos>(i) * 1'000'000);
}

TEST(Retry, ClassesAndBackoff) {
  EXPECT_EQ(classify(stats::ErrorKind::kTimeout), ErrorClass::kTransient);
  EXPECT_EQ(classify(stats::ErrorKind::kRefused), ErrorClass::kTransient);
  EXPECT_EQ(classify(stats::ErrorKind::kAssertion), ErrorClass::kFlaky);
  EXPECT_EQ(classify(stats::ErrorKind::kHttpStatus), ErrorClass::kPermanent);
  RetryPolicy p;  // base 0.1 s, factor 2, max 5 s, jitter 0.25
  EXPECT_EQ(p.delay(1, 0), 100'000'000);
  EXPECT_EQ(p.delay(3, 0), 400'000'000);
  EXPECT_EQ(p.delay(10, 0), 5'000'000'000);        // capped
  EXPECT_EQ(p.delay(1, 0.5), 112'500'000);         // + U * capped * jitter
}

TEST(Flow, FieldsAreSplitFromTheTask) {
  Json task = Json::parse(R"({"method": "get", "url": "u", "think_time": 1, "retry": {}})");
  Json flow = take_flow_fields(task);
  EXPECT_FALSE(task.contains("think_time"));
  EXPECT_TRUE(flow.contains("retry"));
  params::Resolver r;
  FlowSet set;
  EXPECT_THROW(set.compile({Json::parse(R"({"retry": {"transient": 1, "flakey": 2}})")},
                           params::ParseContext{r}, {"/tasks/0"}),
               ConfigError);
  set.compile({Json::parse(R"({"throttle": {"rps": 5, "key": "k"}, "think_time": {"min": 1, "max": 2}})"),
               Json::parse(R"({"throttle": {"rps": 5, "key": "k"}})")},
              params::ParseContext{r}, {"/tasks/0", "/tasks/1"});
  EXPECT_EQ(set.at(0).throttle, set.at(1).throttle) << "one bucket per key";
  EXPECT_DOUBLE_EQ(set.at(0).think_max_s, 2);
}
