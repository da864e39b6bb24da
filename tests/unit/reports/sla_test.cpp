// SLA gates: the original's rule semantics and failure reasons, and the static check.
#include "sla/sla.hpp"

#include <gtest/gtest.h>

#include "loaddensity/core/error.hpp"

namespace ld::reports {
namespace {

const Json kSummary = Json::parse(R"({
  "totals": {"requests": 1200, "failures": 30, "failure_rate": 0.025},
  "latency_overall": {"count": 1200, "p50_ms": 40.5, "p90_ms": 80, "p95_ms": 812.5,
                      "p99_ms": 950.25, "mean_ms": 61.0},
  "per_name": {"/checkout": {"count": 400, "requests": 420, "p50_ms": 100.0, "p95_ms": 450.0, "mean_ms": 120.5,
                             "failure_rate": 0.05}}
})");

Json eval1(const char* rule) { return evaluate_sla(Json::array({Json::parse(rule)}), kSummary)[0]; }

TEST(SlaTest, ReasonsMatchTheOriginal) {
  EXPECT_EQ(eval1(R"({"type":"latency_p95","value":800})")["reason"],
            "latency_p95(overall)=812.5 not lte 800");
  EXPECT_EQ(eval1(R"({"type":"requests","op":"gte","value":5000})")["reason"],
            "requests(overall)=1200.0 not gte 5000");
  EXPECT_EQ(eval1(R"({"type":"failure_rate","value":0.02})")["reason"],
            "failure_rate(overall)=0.025 not lte 0.02");
  EXPECT_EQ(eval1(R"({"type":"latency_p95","name":"/checkout","op":"LT","value":450})")["reason"],
            "latency_p95(/checkout)=450.0 not lt 450");
  EXPECT_EQ(eval1(R"({"type":"latency_p95","op":"eq","value":1})")["reason"],
            "unsupported op 'eq'");
  EXPECT_EQ(eval1(R"({"type":"latency_p95"})")["reason"], "rule missing 'value'");
  EXPECT_EQ(eval1(R"({"type":"latency_p95","name":"/nope","value":1})")["reason"],
            "metric not available in summary");
  EXPECT_EQ(eval1(R"({"type":"bogus","value":1})")["reason"], "metric not available in summary");
}

TEST(SlaTest, PassingRulesCarryTheActualValue) {
  const Json r = eval1(R"({"type":"latency_mean","name":"/checkout","value":200})");
  EXPECT_TRUE(r["passed"].get<bool>());
  EXPECT_EQ(r["actual"].get<double>(), 120.5);
  EXPECT_EQ(r["reason"], "");
  EXPECT_TRUE(eval1(R"({"type":"requests","name":"/checkout","op":"gt","value":399})")["passed"]);
  EXPECT_TRUE(eval1(R"({"type":"failure_rate","name":"/checkout","value":0.05})")["passed"]);
}

TEST(SlaTest, FailureMessageJoinsReasons) {
  const Json results = evaluate_sla(Json::parse(R"([{"type":"latency_p95","value":800},
      {"type":"latency_p50","value":100}, {"type":"failure_rate","value":0.01}])"),
                                    kSummary);
  EXPECT_EQ(sla_failure_message(results),
            "SLA gates failed: latency_p95(overall)=812.5 not lte 800; "
            "failure_rate(overall)=0.025 not lte 0.01");
}

TEST(SlaTest, RulesOverZeroRequestsFailWithAReason) {
  // A server that never answered: nothing measured, every value reads 0.
  const Json empty = Json::parse(R"({
    "totals": {"requests": 0, "failures": 0, "failure_rate": 0.0},
    "latency_overall": {"count": 0, "p50_ms": 0, "p90_ms": 0, "p95_ms": 0, "p99_ms": 0,
                        "mean_ms": 0},
    "per_name": {"/all-failed": {"count": 0, "requests": 12, "failures": 12, "p99_ms": 0,
                                 "failure_rate": 1.0}}
  })");
  auto eval = [&](const char* rule) {
    return evaluate_sla(Json::array({Json::parse(rule)}), empty)[0];
  };
  const Json rate = eval(R"({"type":"failure_rate","value":0.01})");
  EXPECT_FALSE(rate["passed"].get<bool>());
  EXPECT_EQ(rate["reason"], "failure_rate(overall): no requests were measured");
  const Json p99 = eval(R"({"type":"latency_p99","value":500})");
  EXPECT_FALSE(p99["passed"].get<bool>());
  EXPECT_EQ(p99["reason"], "latency_p99(overall): no requests were measured");
  const Json named = eval(R"({"type":"latency_p99","name":"/all-failed","value":500})");
  EXPECT_FALSE(named["passed"].get<bool>());
  EXPECT_EQ(named["reason"], "latency_p99(/all-failed): no successful requests were measured");
  // Counting requests is still a plain comparison (0 >= 0 holds).
  EXPECT_TRUE(eval(R"({"type":"requests","op":"gte","value":0})")["passed"].get<bool>());
  EXPECT_FALSE(eval(R"({"type":"requests","op":"gt","value":0})")["passed"].get<bool>());
}

std::string pointer_of(const char* rules) {
  try {
    validate_sla_rules(Json::parse(rules));
  } catch (const ConfigError& e) {
    return e.pointer() + " " + e.what();
  }
  return "valid";
}

TEST(SlaTest, StaticCheckNamesTheField) {
  EXPECT_EQ(pointer_of(R"([{"type":"latency_p95","value":1}])"), "valid");
  EXPECT_EQ(pointer_of(R"([{"type":"latency_p95","value":1},{"type":"latency_p59","value":1}])")
                .substr(0, 8),
            "/1/type ");
  EXPECT_NE(pointer_of(R"([{"type":"latency_p59","value":1}])").find("did you mean 'latency_p50'"),
            std::string::npos);
  EXPECT_EQ(pointer_of(R"([{"type":"requests","op":"eq","value":1}])").substr(0, 6), "/0/op ");
  EXPECT_EQ(pointer_of(R"([{"type":"requests"}])").substr(0, 9), "/0/value ");
  EXPECT_EQ(pointer_of(R"([{"type":"requests","value":"5"}])").substr(0, 9), "/0/value ");
  EXPECT_EQ(pointer_of(R"([{"type":"requests","value":5,"name":3}])").substr(0, 8), "/0/name ");
  EXPECT_EQ(pointer_of(R"([3])").substr(0, 3), "/0 ");
}

}  // namespace
}  // namespace ld::reports
