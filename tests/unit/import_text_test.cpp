// The text importers: cURL command lines and k6 scripts (tokenizer edge cases, error lines).
#include <gtest/gtest.h>

#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {
namespace {

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool has_warning(const Import& i, const std::string& part) {
  for (const auto& w : i.warnings) {
    if (w.get<std::string>().find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(CurlImport, ChromeCopyAsCurlWithAnsiQuotingAndContinuations) {
  Import i;
  const Json t = curl_to_task(
      "curl 'https://api.example.com/v1/items?x=1' \\\n  -H 'accept: application/json' \\\n"
      "  -H 'content-type: application/json' \\\n  --data-raw $'{\"a\":\"it\\'s\\\\n\"}' \\\n"
      "  --compressed",
      &i);
  EXPECT_EQ(t["method"], "post");
  EXPECT_EQ(t["request_url"], "https://api.example.com/v1/items?x=1");
  EXPECT_EQ(t["json"]["a"], "it's\n");  // $'..\\n..' gives JSON an escaped newline
  EXPECT_EQ(t["headers"]["accept"], "application/json");
  EXPECT_EQ(t["name"], "POST /v1/items?x=1");
  EXPECT_TRUE(i.warnings.empty()) << i.warnings.dump();
}

TEST(CurlImport, GroupedShortOptionsAttachedValuesAndUnknownOptionsKeepTheUrl) {
  Import i;
  const Json t = curl_to_task("curl -sSL -XDELETE --unknown-flag http://h/a -k -b 'a=1; b=2'", &i);
  EXPECT_EQ(t["method"], "delete");
  EXPECT_EQ(t["request_url"], "http://h/a");  // the original's parser ate the URL here
  EXPECT_EQ(t["allow_redirects"], true);
  EXPECT_EQ(t["verify"], false);
  EXPECT_EQ(t["cookies"], (Json{{"a", "1"}, {"b", "2"}}));
  EXPECT_TRUE(has_warning(i, "--unknown-flag"));
}

TEST(CurlImport, DataFormsGetAndJson) {
  EXPECT_EQ(curl_to_task("curl -d a=1 -d b=2 h/p")["data"], "a=1&b=2");
  EXPECT_EQ(curl_to_task("curl -d a=1 h/p")["request_url"], "http://h/p");
  const Json g = curl_to_task("curl -G -d q=x http://h/s");
  EXPECT_EQ(g["method"], "get");
  EXPECT_EQ(g["request_url"], "http://h/s?q=x");
  const Json j = curl_to_task("curl --json '[1,2]' http://h/");
  EXPECT_EQ(j["json"], Json::parse("[1,2]"));
  EXPECT_EQ(j["headers"]["Content-Type"], "application/json");
  const Json f = curl_to_task("curl -F name=x -F pic=@/tmp/p.png http://h/u");
  EXPECT_EQ(f["files"]["pic"], "/tmp/p.png");
  EXPECT_EQ(f["data"]["name"], "x");
  const Json u = curl_to_task("curl --data-urlencode 'q=a b&c' http://h/");
  EXPECT_EQ(u["data"], "q=a%20b%26c");
  EXPECT_EQ(curl_to_task("curl -I http://h/")["method"], "head");
  EXPECT_EQ(curl_to_task("curl -u joe http://h/")["auth"]["password"], "");
}

TEST(CurlImport, ErrorsSayWhat) {
  EXPECT_NE(error_of([] { curl_to_task("curl 'http://h/"); }).find("unterminated single quote"),
            std::string::npos);
  EXPECT_NE(error_of([] { curl_to_task("curl -H"); }).find("-H needs a value"), std::string::npos);
  EXPECT_NE(error_of([] { curl_to_task("curl -s"); }).find("no URL"), std::string::npos);
}

TEST(K6Import, TokenizerSkipsCommentsStringsAndRegexes) {
  const Import i = k6_to_tasks(R"JS(
import http from 'k6/http';
// http.get('http://commented/out')
/* http.post('http://also/out') */
const re = /http.get\('x'\)/g;
const s = "http.get('in a string')";
export default function () {
  const t = `http.get('in a template ${1 + 2}')`;
  http.get('http://h/real');
}
)JS");
  ASSERT_EQ(i.tasks.size(), 1u) << i.tasks.dump();
  EXPECT_EQ(i.tasks[0]["request_url"], "http://h/real");
}

TEST(K6Import, ArgumentsWithParenthesesConstantsAndParams) {
  const Import i = k6_to_tasks(R"JS(
import http from 'k6/http';
import { check } from 'k6';
const BASE = 'http://h';
const params = { headers: { 'X-A': 'b' }, tags: { name: 'create' }, timeout: '5s' };
export default function () {
  let res = http.post(`${BASE}/items`, JSON.stringify({ t: 'a)b', n: [1, 2] }), params);
  check(res, { 'created': (r) => 201 === r.status });
  http.request('PATCH', BASE + '/items/' + __ENV.ID, 'x=1');
  http.get(`${BASE}/u/${userId}`);
}
)JS");
  ASSERT_EQ(i.tasks.size(), 3u) << i.tasks.dump();
  EXPECT_EQ(i.tasks[0]["json"], Json::parse(R"({"t":"a)b","n":[1,2]})"));
  EXPECT_EQ(i.tasks[0]["name"], "create");
  EXPECT_EQ(i.tasks[0]["headers"]["X-A"], "b");
  EXPECT_EQ(i.tasks[0]["timeout"], 5.0);
  EXPECT_EQ(i.tasks[0]["assertions"][0]["value"], 201);
  EXPECT_EQ(i.tasks[1]["method"], "patch");
  EXPECT_EQ(i.tasks[1]["request_url"], "http://h/items/${env.ID}");
  EXPECT_EQ(i.tasks[1]["data"], "x=1");
  EXPECT_EQ(i.tasks[2]["request_url"], "http://h/u/${var.userId}");
  EXPECT_TRUE(has_warning(i, "k6 line 10: 'userId' is computed"));
}

TEST(K6Import, OptionsBecomeThePlan) {
  Import i = k6_to_tasks(
      "export const options = { vus: 20, duration: '1m30s', iterations: 5 };\n"
      "export default function () { http.get('http://h/'); sleep(2); }\n");
  EXPECT_EQ(i.plan["user_count"], 20);
  EXPECT_EQ(i.plan["test_time"], 90.0);
  EXPECT_EQ(i.tasks[0]["think_time"], 2);
  EXPECT_TRUE(has_warning(i, "option 'iterations'"));
  const Json doc = to_action_json(i, DocumentOptions{});
  EXPECT_EQ(doc["load_density"][0][1]["user_count"], 20);
  DocumentOptions o;
  o.user_count = 3;
  EXPECT_EQ(to_action_json(i, o)["load_density"][0][1]["user_count"], 3);
}

TEST(K6Import, StagesAreCumulativeWithRampRates) {
  const Import i = k6_to_tasks(
      "export let options = { stages: [ { duration: '10s', target: 20 }, "
      "{ duration: '5s', target: 10 } ] };\nexport default function () { http.get('http://h'); }");
  const Json& st = i.plan["shape_config"]["stages"];
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0]["duration"], 10.0);
  EXPECT_EQ(st[0]["spawn_rate"], 2.0);
  EXPECT_EQ(st[1]["duration"], 15.0);
  EXPECT_EQ(st[1]["users"], 10);
  EXPECT_EQ(i.plan["user_count"], 20);
}

TEST(K6Import, ErrorsNameTheLine) {
  EXPECT_EQ(error_of([] { k6_to_tasks("a\nb\n'open"); }), "k6 line 3: unterminated string");
  EXPECT_EQ(error_of([] { k6_to_tasks("\n`x ${y}"); }), "k6 line 2: unterminated template literal");
  EXPECT_EQ(error_of([] { k6_to_tasks("/* x\n\n"); }), "k6 line 1: unterminated /* comment");
  EXPECT_EQ(error_of([] { k6_to_tasks("\n\nhttp.get(\n'x'"); }), "k6 line 3: '(' is never closed");
  EXPECT_EQ(error_of([] { k6_to_tasks("\nhttp.get()"); }), "k6 line 2: http.get() has no URL");
  EXPECT_EQ(error_of([] { k6_to_tasks("export const options = {duration: 'soon'};"); }),
            "k6 line 1: options.duration 'soon' is not a duration");
}

TEST(Durations, K6AndJMeterForms) {
  EXPECT_EQ(detail::parse_duration("1h2m3s"), 3723.0);
  EXPECT_EQ(detail::parse_duration("250ms"), 0.25);
  EXPECT_EQ(detail::parse_duration("45"), 45.0);
  EXPECT_FALSE(detail::parse_duration("1m30"));
  EXPECT_FALSE(detail::parse_duration("x"));
  EXPECT_FALSE(detail::parse_duration(""));
}

}  // namespace
}  // namespace ld::importers
