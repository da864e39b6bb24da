#include "params/resolver.hpp"

#include <gtest/gtest.h>

#include "loaddensity/core/error.hpp"

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
    if (s.find("${") == std::string::npos) {
      EXPECT_EQ(out, s);
    }
  }
}

TEST(Template, DynamicKindsRenderPerCall) {
  Resolver r;
  ParseContext ctx{r};
  UserScope scope(7);
  Template t = Template::parse("id=${uuid()} n=${randint(1,3)} ${ NOW() }", ctx);
  EXPECT_FALSE(t.is_static());
  const std::string a = t.render(scope), b = t.render(scope);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), std::string("id=").size() + 36 + std::string(" n=1 ").size() + 19);
  for (int i = 0; i < 200; ++i) {
    const std::string v = Template::parse("${randint(1,3)}", ctx).render(scope);
    EXPECT_TRUE(v == "1" || v == "2" || v == "3") << v;
  }
  EXPECT_EQ(Template::parse("${randint(1)}", ctx).text(), "${randint(1)}");
  EXPECT_EQ(Template::parse("${shell(ls)}", ctx).text(), "${shell(ls)}");
}

TEST(Template, CsvColumnsOfOneTaskShareARow) {
  Resolver r;
  auto src = std::make_shared<DataSource>();
  src->name = "users";
  src->columns = {"name", "pass"};
  src->rows = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  r.add_source("csv", src);
  ParseContext ctx{r};
  UserScope scope(1, r.source_count());
  Template t = Template::parse("${csv.users.name}:${csv.users.pass}", ctx);
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    scope.begin_task();
    seen.push_back(t.render(scope));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a:1", "b:2", "c:3", "a:1"}));  // cycles
  src->cycle = false;
  src->rewind();
  for (int i = 0; i < 3; ++i) {
    scope.begin_task();
    t.render(scope);
  }
  scope.begin_task();
  EXPECT_EQ(t.render(scope), "${csv.users.name}:${csv.users.pass}") << "exhausted stays verbatim";
  EXPECT_EQ(Template::parse("${csv.other.name}", ctx).text(), "${csv.other.name}")
      << "a source never registered stays verbatim";
}

TEST(Template, MissingColumnAndFailedSourceAreErrors) {
  Resolver r;
  auto src = std::make_shared<DataSource>();
  src->name = "users";
  src->origin = "u.csv";
  src->columns = {"name", "pass"};
  r.add_source("csv", src);
  r.mark_failed("csv", "gone", "cannot open 'gone.csv'");
  ParseContext ctx{r};
  auto error = [&](const char* text) {
    try {
      Template::parse(text, ctx);
    } catch (const ld::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(
      error("a=${csv.users.nope}"),
      "${csv.users.nope}: csv source 'users' (u.csv) has no column 'nope' (columns: name, pass)");
  EXPECT_EQ(error("${csv.gone.x}"),
            "${csv.gone.x}: csv source 'gone' could not be registered: cannot open 'gone.csv'");
  r.add_source("csv", [] {
    auto s = std::make_shared<DataSource>();
    s->name = "gone";
    s->columns = {"x"};
    return s;
  }());
  EXPECT_EQ(error("${csv.gone.x}"), "") << "registering it again clears the failure";
}

TEST(Template, UserVariablesOverrideRegisteredDefaults) {
  Resolver r;
  r.set_variable("token", "default");
  std::set<std::string> extracted{"token"};
  ParseContext ctx{r, &extracted};
  Template t = Template::parse("Bearer ${var.token}", ctx);
  UserScope alice(1), bob(2);
  EXPECT_EQ(t.render(alice), "Bearer default");
  alice.set("token", "A");
  EXPECT_EQ(t.render(alice), "Bearer A");
  EXPECT_EQ(t.render(bob), "Bearer default") << "variables are per user";
}

TEST(Template, JsonBodiesEscapeValuesAndLeaveKeysAlone) {
  Resolver r;
  r.set_variable("q", "say \"hi\"");
  std::set<std::string> extracted{"dyn"};
  ParseContext ctx{r, &extracted};
  UserScope scope(1);
  scope.set("dyn", "line\nbreak");
  Template t = json_template(Json::parse(R"({"${q}": "${q}", "d": "${dyn}", "n": [1, "${dyn}"]})"), ctx);
  const Json out = Json::parse(t.render(scope));
  EXPECT_EQ(out["${q}"], "say \"hi\"");
  EXPECT_EQ(out["d"], "line\nbreak");
  EXPECT_EQ(out["n"][1], "line\nbreak");
}

TEST(Faker, KnownMethodsProduceValuesAndSeedsRepeat) {
  Resolver r;
  ParseContext ctx{r};
  for (const char* m : {"name", "email", "user_name", "phone_number", "address", "city", "country",
                        "company", "word", "sentence", "text", "ipv4", "url", "date", "iso8601",
                        "uuid4", "first_name", "last_name"}) {
    UserScope s(3);
    Template t = Template::parse(std::string("${faker.") + m + "}", ctx);
    ASSERT_FALSE(t.is_static()) << m;
    const std::string v = t.render(s);
    EXPECT_FALSE(v.empty()) << m;
    UserScope again(3);
    EXPECT_EQ(t.render(again), v) << "same seed, same value: " << m;
  }
  UserScope s(1);
  EXPECT_NE(Template::parse("${faker.email}", ctx).render(s).find('@'), std::string::npos);
  EXPECT_EQ(Template::parse("${faker.nonsense}", ctx).text(), "${faker.nonsense}");
}
