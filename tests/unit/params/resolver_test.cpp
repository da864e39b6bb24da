#include "params/resolver.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

using namespace ld;
using namespace ld::params;

TEST(Resolver, VariablesEnvAndBareNames) {
  Resolver r;
  r.set_variable("base", "http://127.0.0.1:1");
  r.set_variable("a.b", "dotted");
  ::setenv("LD_TEST_ENV_X", "from-env", 1);
  EXPECT_EQ(resolve_static("${var.base}/get", r), "http://127.0.0.1:1/get");
  EXPECT_EQ(resolve_static("${base}/x", r), "http://127.0.0.1:1/x");
  EXPECT_EQ(resolve_static("${ VAR.a.b }", r), "dotted");
  EXPECT_EQ(resolve_static("${env.LD_TEST_ENV_X}", r), "from-env");
  EXPECT_EQ(resolve_static("${ENV.LD_TEST_ENV_X}-${base}", r), "from-env-http://127.0.0.1:1");
}

TEST(Resolver, UnknownPlaceholdersStayVerbatim) {
  Resolver r;
  EXPECT_EQ(resolve_static("${nope} and ${var.nope} and ${env.LD_SURELY_UNSET_VAR}", r),
            "${nope} and ${var.nope} and ${env.LD_SURELY_UNSET_VAR}");
  EXPECT_EQ(resolve_static("${unterminated", r), "${unterminated");
  EXPECT_EQ(resolve_static("${}", r), "${}");
}

TEST(Resolver, JsonValuesResolveButKeysDoNot) {
  Resolver r;
  r.set_variable("k", "v");
  Json in = {{"${k}", "${k}"}, {"list", {"${k}", 1, true}}, {"n", 5}};
  Json out = resolve_json(in, r);
  EXPECT_EQ(out["${k}"], "v");
  EXPECT_EQ(out["list"][0], "v");
  EXPECT_EQ(out["list"][1], 1);
  EXPECT_EQ(out["n"], 5);
}

TEST(Resolver, NeverCrashesOnArbitraryInput) {
  Resolver r;
  r.set_variable("x", "y");
  std::mt19937 rng(1);
  const std::string alphabet = "${}.()xvarenv ,";
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 24);
    for (int j = 0; j < n; ++j) s += alphabet[rng() % alphabet.size()];
    const std::string out = resolve_static(s, r);
    if (s.find("${") == std::string::npos) EXPECT_EQ(out, s);
  }
}
