#include "checks/checks.hpp"

#include <gtest/gtest.h>

#include "loaddensity/core/error.hpp"

using namespace ld;
using namespace ld::checks;

namespace {
const char* kBody = R"({"data": {"token": "t0k", "items": [{"id": 7}, {"id": 8}], "n": 2}})";
const char* kHeaders = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Id: 42\r\n\r\n";
}  // namespace

TEST(JsonPath, DottedBracketedAndRooted) {
  const Json doc = Json::parse(kBody);
  for (const char* p : {"data.items.1.id", "$.data.items[1].id", "data..items.1.id", "data.items.-1.id"}) {
    const Json* v = JsonPath::parse(p).find(doc);
    ASSERT_NE(v, nullptr) << p;
    EXPECT_EQ(*v, 8) << p;
  }
  EXPECT_EQ(JsonPath::parse("data.items.5.id").find(doc), nullptr);
  EXPECT_EQ(JsonPath::parse("data.nope").find(doc), nullptr);
}

TEST(Checks, FirstFailingAssertionNamesTheRule) {
  params::Resolver r;
  params::ParseContext ctx{r};
  auto c = Checks::compile(Json::parse(R"({"assertions": [
      {"type": "STATUS_CODE", "value": 200},
      {"type": "contains", "value": "t0k"},
      {"type": "json_path", "path": "data.n", "value": 2},
      {"type": "header", "name": "x-id", "value": "42"},
      {"type": "not_contains", "value": "secret"}]})"), ctx);
  params::UserScope scope(1);
  ResponseView ok{200, kBody, kHeaders};
  EXPECT_EQ(c->apply(ok, scope), nullptr);
  ResponseView bad_status{500, kBody, kHeaders};
  EXPECT_STREQ(c->apply(bad_status, scope), "assertion failed: status_code == 200");
  auto c2 = Checks::compile(Json::parse(R"({"assertions": [
      {"type": "json_path", "path": "data.n", "value": "2"}]})"), ctx);
  EXPECT_STREQ(c2->apply(ok, scope), "assertion failed: json_path data.n == \"2\"")
      << "a string never equals a number (Python ==)";
  ResponseView not_json{200, "<html>", kHeaders};
  auto c3 = Checks::compile(Json::parse(R"({"assertions": [{"type": "json_path", "path": "a", "value": 1}]})"), ctx);
  EXPECT_NE(c3->apply(not_json, scope), nullptr);
}

TEST(Checks, JsonPathNullMatchesANullValueOrAMissingKeyAsTheOriginal) {
  params::Resolver r;
  params::ParseContext ctx{r};
  auto c = Checks::compile(
      Json::parse(R"({"assertions": [{"type": "json_path", "path": "$[0].empty", "value": null}]})"),
      ctx);
  params::UserScope scope(1);
  EXPECT_EQ(c->apply(ResponseView{0, R"([{"empty": null}])", {}}, scope), nullptr);
  EXPECT_EQ(c->apply(ResponseView{0, R"([{"other": 1}])", {}}, scope), nullptr);
  EXPECT_NE(c->apply(ResponseView{0, R"([{"empty": 0}])", {}}, scope), nullptr);
  EXPECT_NE(c->apply(ResponseView{0, R"([{"empty": "null"}])", {}}, scope), nullptr);
  EXPECT_NE(c->apply(ResponseView{0, "not json", {}}, scope), nullptr);
}

TEST(Checks, ExtractorsWritePerUserVariablesOnlyAfterPassing) {
  params::Resolver r;
  params::ParseContext ctx{r};
  auto c = Checks::compile(Json::parse(R"({
      "assertions": [{"type": "status_code", "value": "${expected}"}],
      "extract": [{"var": "token", "path": "data.token"},
                  {"var": "id", "from": "header", "name": "X-ID"},
                  {"var": "code", "from": "status_code"},
                  {"var": "missing", "path": "data.nothing"}]})"), ctx);
  r.set_variable("expected", "200");
  // `expected` was folded when parsing? No: it was registered after compile, so it stays verbatim.
  params::UserScope scope(1);
  EXPECT_NE(c->apply(ResponseView{200, kBody, kHeaders}, scope), nullptr);
  auto c2 = Checks::compile(Json::parse(R"({
      "assertions": [{"type": "status_code", "value": "${expected}"}],
      "extract": [{"var": "token", "path": "data.token"},
                  {"var": "id", "from": "header", "name": "X-ID"},
                  {"var": "code", "from": "status_code"},
                  {"var": "missing", "path": "data.nothing"}]})"), ctx);
  EXPECT_EQ(c2->apply(ResponseView{200, kBody, kHeaders}, scope), nullptr);
  EXPECT_EQ(*scope.find("token"), "t0k");
  EXPECT_EQ(*scope.find("id"), "42");
  EXPECT_EQ(*scope.find("code"), "200");
  EXPECT_EQ(scope.find("missing"), nullptr) << "None is not written";
}

TEST(Checks, BadSpecsAreConfigErrors) {
  for (const char* spec : {R"({"assertions": [{"type": "status", "value": 1}]})",
                           R"({"assertions": [{"type": "json_path", "value": 1}]})",
                           R"({"assertions": [{"type": "status_code", "value": "abc"}]})",
                           R"({"extract": [{"from": "json_path", "path": "a"}]})",
                           R"({"extract": [{"var": "x", "from": "body"}]})"}) {
    EXPECT_THROW(Checks::validate(Json::parse(spec)), ConfigError) << spec;
  }
  try {
    Checks::validate(Json::parse(R"({"assertions": [{"type": "status_code", "value": 1}, {"type": "contain", "value": 1}]})"));
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/assertions/1/type");
    EXPECT_NE(std::string(e.what()).find("did you mean 'contains'"), std::string::npos);
  }
}

TEST(Checks, DeeplyNestedResponseBodiesAreNotJson) {
  params::Resolver r;
  params::ParseContext ctx{r};
  auto c = Checks::compile(Json::parse(R"({"extract": [{"var": "all", "path": "a"}]})"), ctx);
  params::UserScope scope(1);
  // {"a": [[[...]]]} 200,000 levels deep: extracting "a" used to print it recursively.
  const std::string deep = "{\"a\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  ResponseView v{200, deep, kHeaders};
  EXPECT_EQ(c->apply(v, scope), nullptr);
  EXPECT_EQ(scope.find("all"), nullptr) << "not extracted: the body does not count as JSON";
  const std::string ok = "{\"a\": [[\"x\"]]}";
  ResponseView w{200, ok, kHeaders};
  EXPECT_EQ(c->apply(w, scope), nullptr);
  ASSERT_NE(scope.find("all"), nullptr);
  EXPECT_EQ(*scope.find("all"), "[[\"x\"]]");
}
