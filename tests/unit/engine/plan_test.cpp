#include "engine/plan.hpp"

#include <gtest/gtest.h>

#include "loaddensity/core/error.hpp"

using namespace ld;
using namespace ld::engine;

namespace {
Json base_args() {
  return Json{{"user_detail_dict", {{"user", "fast_http_user"}}},
              {"user_count", 50},
              {"spawn_rate", 10},
              {"test_time", 60},
              {"tasks", Json::array({{{"method", "get"}, {"request_url", "http://x/"}}})}};
}
std::string pointer_of(const Json& args) {
  try {
    parse_plan(args);
  } catch (const ConfigError& e) {
    return e.pointer();
  }
  return "(no error)";
}
}  // namespace

TEST(Plan, DefaultsHaveNoHiddenWait) {
  PlanConfig p = parse_plan(base_args());
  EXPECT_EQ(p.users, 50u);
  EXPECT_FALSE(p.wait.enabled());
  EXPECT_EQ(p.mode, ScenarioMode::kSequence);
}

TEST(Plan, LegacyDictAndModeBlockNormalise) {
  Json a = base_args();
  a["tasks"] = {{"get", {{"request_url", "http://x/a"}}}, {"post", {{"request_url", "http://x/b"}}}};
  PlanConfig p = parse_plan(a);
  ASSERT_EQ(p.tasks.size(), 2u);
  EXPECT_EQ(p.tasks[0]["method"], "get");
  a["tasks"] = {{"mode", "weighted"},
                {"tasks", Json::array({{{"method", "get"}, {"url", "u"}, {"weight", 3}}})}};
  p = parse_plan(a);
  EXPECT_EQ(p.mode, ScenarioMode::kWeighted);
  EXPECT_EQ(p.weights, std::vector<std::uint32_t>{3});
  EXPECT_FALSE(p.tasks[0].contains("weight"));
}

TEST(Plan, WaitTimeAcceptsNumberAndRange) {
  Json a = base_args();
  a["user_detail_dict"]["wait_time"] = {{"min", 0.1}, {"max", 0.2}};
  PlanConfig p = parse_plan(a);
  EXPECT_DOUBLE_EQ(p.wait.min_s, 0.1);
  EXPECT_DOUBLE_EQ(p.wait.max_s, 0.2);
  a["user_detail_dict"]["wait_time"] = {{"min", 0.3}, {"max", 0.2}};
  EXPECT_EQ(pointer_of(a), "/user_detail_dict/wait_time");
}

TEST(Plan, BadValuesPointAtTheField) {
  Json a = base_args();
  a["spawn_rate"] = 0;
  EXPECT_EQ(pointer_of(a), "/spawn_rate");
  a = base_args();
  a["tasks"] = Json::array({5});
  EXPECT_EQ(pointer_of(a), "/tasks/0");
  a = base_args();
  a["user_detail_dict"] = {{"usr", "x"}};
  EXPECT_EQ(pointer_of(a), "/user_detail_dict");
  a = base_args();
  a["tasks"] = Json::array();
  EXPECT_EQ(pointer_of(a), "/tasks");
}

TEST(Plan, NumbersOutsideTheirRangeAreRefused) {
  auto error = [](Json a) {
    try {
      parse_plan(a);
    } catch (const ConfigError& e) {
      return std::string(e.what()) + " @" + e.pointer();
    }
    return std::string("(no error)");
  };
  Json a = base_args();
  a["test_time"] = 9.3e9;  // used to overflow to a negative end time: 0 requests, exit 0
  EXPECT_NE(error(a).find("test_time must be a number between 0 and 315360000 seconds"),
            std::string::npos)
      << error(a);
  a = base_args();
  a["hard_timeout"] = 1e300;
  EXPECT_NE(error(a).find("@/hard_timeout"), std::string::npos) << error(a);
  a = base_args();
  a["user_count"] = 10'000'001;
  EXPECT_NE(error(a).find("user_count must be a number between 1 and 10000000 users"),
            std::string::npos)
      << error(a);
  a = base_args();
  a["load_shape"] = "soak";
  a["shape_config"] = {{"users", 5}, {"hold_seconds", 1e300}};
  EXPECT_NE(error(a).find("hold_seconds must be"), std::string::npos) << error(a);
  a = base_args();
  a["load_shape"] = "ramping_arrival_rate";
  a["shape_config"] = {{"stages", {{{"duration", 1}, {"rate", 1e300}}}}};
  EXPECT_NE(error(a).find("@/shape_config/stages/0/rate"), std::string::npos) << error(a);
  a = base_args();
  a["tasks"][0]["weight"] = -1;
  EXPECT_NE(error(a).find("weight must be a number between 0 and 1000000"), std::string::npos)
      << error(a);
  a = base_args();
  a["test_time"] = 315360000;  // the limit itself is accepted
  EXPECT_EQ(error(a), "(no error)");
}

TEST(Clock, SecondsToNanosSaturates) {
  EXPECT_EQ(seconds_to_ns(1.5), 1'500'000'000);
  EXPECT_GT(seconds_to_ns(1e300), 0);
  EXPECT_GT(seconds_to_ns(9.3e9), seconds_to_ns(4e9));
  EXPECT_LT(seconds_to_ns(-1e300), 0);
}
