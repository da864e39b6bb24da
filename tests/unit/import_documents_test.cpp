// The document importers: HAR, Postman, OpenAPI (JSON and YAML) and JMeter: edge cases and the
// place each error names.
#include <gtest/gtest.h>

#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {
namespace {

// (message, pointer) of the ConfigError `f` throws.
std::pair<std::string, std::string> error_of(auto&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return {e.what(), e.pointer()};
  }
  return {};
}

bool has_warning(const Import& i, const std::string& part) {
  for (const auto& w : i.warnings) {
    if (w.get<std::string>().find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(HarImport, HeadersBodiesFiltersAndAssertions) {
  const Json har = Json::parse(R"({"log": {"entries": [
    {"request": {"method": "POST", "url": "https://h/api/x?y=1",
                 "headers": [{"name": ":authority", "value": "h"}, {"name": "Host", "value": "h"},
                             {"name": "cookie", "value": "a=1"}, {"name": "cookie", "value": "b=2"},
                             {"name": "X-A", "value": "v"}],
                 "postData": {"mimeType": "application/json; charset=utf-8", "text": "{\"k\": 1}"}},
     "response": {"status": 201}},
    {"request": {"method": "POST", "url": "https://h/form",
                 "postData": {"mimeType": "application/x-www-form-urlencoded",
                              "params": [{"name": "a", "value": "1"}, {"name": "f", "fileName": "x.png"}]}},
     "response": {"status": 0}},
    {"request": {"method": "GET", "url": "https://h/static/app.js"}},
    {"request": {"method": "GET", "url": "data:image/png;base64,AA"}},
    {"request": {"method": "", "url": "https://h/"}}
  ]}})");
  const Import i = har_to_tasks(har, {}, {"\\.js$"});
  ASSERT_EQ(i.tasks.size(), 2u) << i.tasks.dump();
  const Json& a = i.tasks[0];
  EXPECT_EQ(a["name"], "POST /api/x?y=1");
  EXPECT_EQ(a["method"], "post");
  EXPECT_EQ(a["headers"], (Json{{"cookie", "a=1; b=2"}, {"X-A", "v"}}));
  EXPECT_EQ(a["json"], (Json{{"k", 1}}));
  EXPECT_EQ(a["assertions"][0]["value"], 201);
  EXPECT_EQ(i.tasks[1]["data"], (Json{{"a", "1"}}));
  EXPECT_FALSE(i.tasks[1].contains("assertions"));
  EXPECT_TRUE(has_warning(i, "HAR entry 1: form field f is a file upload"));
  EXPECT_TRUE(has_warning(i, "HAR entry 3: data URL"));
  EXPECT_TRUE(has_warning(i, "HAR entry 4: no method or URL"));
  EXPECT_EQ(har_to_tasks(har, {"/form"}).tasks.size(), 1u);
}

TEST(HarImport, ErrorsNameTheEntry) {
  auto e = error_of([] {
    har_to_tasks(
        Json::parse(R"({"log": {"entries": [{"request": {"method": "GET", "url": "http://h/"}},
                                                     {"request": {"url": 5}}]}})"));
  });
  EXPECT_EQ(e.first, "HAR entry 1: request.url must be a string");
  EXPECT_EQ(e.second, "/log/entries/1/request/url");
  e = error_of([] { har_to_tasks(Json::parse(R"({"log": {"entries": [3]}})")); });
  EXPECT_EQ(e.second, "/log/entries/0");
  e = error_of([] { har_to_tasks(Json::parse(R"({"log": {"entries": []}})"), {"("}); });
  EXPECT_EQ(e.second, "/include/0");
  e = error_of([] { har_to_tasks(Json::parse(R"({"entries": []})")); });
  EXPECT_EQ(e.second, "/log");
}

TEST(PostmanImport, VariablesAuthQueryAndBodies) {
  const Json c = Json::parse(R"({
    "info": {"schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
    "variable": [{"key": "host", "value": "http://h"}, {"key": "off", "value": "1", "disabled": true}],
    "auth": {"type": "apikey", "apikey": [{"key": "key", "value": "X-Key"}, {"key": "value", "value": "{{k}}"},
                                          {"key": "in", "value": "header"}]},
    "item": [
      {"name": "q", "request": {"method": "GET", "url": {"protocol": "http", "host": ["api", "h"],
        "path": ["v1", "{{id}}"], "query": [{"key": "a", "value": "1"}, {"key": "b", "value": "2", "disabled": true}]}}},
      {"name": "gql", "request": {"method": "POST", "url": "{{host}}/graphql",
        "body": {"mode": "graphql", "graphql": {"query": "{ me { id } }", "variables": "{\"x\": 1}"}}}},
      {"name": "raw text", "request": {"method": "PUT", "url": "{{host}}/t",
        "body": {"mode": "raw", "raw": "plain {{$randomInt}} {{$unknownThing}}"}}},
      {"name": "file", "request": {"method": "POST", "url": "{{host}}/f", "body": {"mode": "file", "file": {}}}},
      {"name": "oauth", "request": {"method": "GET", "url": "{{host}}/o", "auth": {"type": "oauth2"}}}
    ]})");
  const Import i = postman_to_tasks(c);
  ASSERT_EQ(i.tasks.size(), 5u);
  EXPECT_EQ(i.variables, (Json{{"host", "http://h"}}));
  EXPECT_EQ(i.tasks[0]["request_url"], "http://api.h/v1/${var.id}");
  EXPECT_EQ(i.tasks[0]["params"], (Json{{"a", "1"}}));
  EXPECT_EQ(i.tasks[0]["headers"]["X-Key"], "${var.k}");
  EXPECT_EQ(i.tasks[1]["json"],
            Json::parse(R"({"query": "{ me { id } }", "variables": {"x": 1}})"));
  EXPECT_EQ(i.tasks[2]["data"], "plain ${randint(0,1000)} {{$unknownThing}}");
  EXPECT_TRUE(
      has_warning(i, "Postman item 'raw text': Postman dynamic variable {{$unknownThing}}"));
  EXPECT_TRUE(has_warning(i, "Postman item 'file': body mode 'file'"));
  EXPECT_TRUE(has_warning(i, "Postman item 'oauth': Postman auth type 'oauth2'"));
  EXPECT_TRUE(has_warning(i, "{{id}} is not a collection variable"));
}

TEST(PostmanImport, ErrorsNameTheItemPath) {
  auto e = error_of([] {
    postman_to_tasks(Json::parse(R"({"item": [{"name": "A", "item": [{"name": "B",
      "request": {"method": 1, "url": "x"}}]}]})"));
  });
  EXPECT_EQ(e.first, "Postman item 'A/B': request.method must be a string");
  EXPECT_EQ(e.second, "/item/0/item/0/request/method");
  e = error_of([] { postman_to_tasks(Json::parse(R"({"item": [{"name": "A", "item": [7]}]})")); });
  EXPECT_EQ(e.second, "/item/0/item/0");
  e = error_of([] { postman_to_tasks(Json::parse(R"({"variable": {}, "item": []})")); });
  EXPECT_EQ(e.second, "/variable");
}

const char* kSpec31 = R"(openapi: 3.1.0
info: {title: t, version: '1'}
servers:
  - url: https://{region}.api.test/{base}
    variables:
      region: {default: eu}
      base: {default: v2}
components:
  parameters:
    Id: {name: id, in: path, required: true, schema: {type: [integer, 'null'], examples: [7]}}
  schemas:
    Thing:
      type: object
      properties:
        id: {type: integer, readOnly: true}
        kind: {enum: [a, b]}
        at: {type: string, format: date-time}
        tags: {type: array, items: {type: string, default: x}}
  securitySchemes:
    bearer: {type: http, scheme: bearer}
security: [{bearer: []}]
paths:
  /things/{id}:
    parameters: [{$ref: '#/components/parameters/Id'}]
    get:
      parameters:
        - {name: verbose, in: query, required: true, schema: {type: boolean}}
        - {name: X-Trace, in: header, required: true, example: abc}
        - {name: page, in: query, schema: {type: integer}}
      responses: {'2XX': {description: ok}, 203: {description: ok}}
    put:
      operationId: putThing
      requestBody:
        content:
          application/merge-patch+json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses: {default: {description: x}}
)";

TEST(OpenApiImport, Yaml31RefsServerVariablesExamplesAndSecurity) {
  const Import i = openapi_to_tasks(parse_openapi_text(kSpec31, "spec.yaml"));
  ASSERT_EQ(i.tasks.size(), 2u);
  const Json& get = i.tasks[0];
  EXPECT_EQ(get["name"], "GET /things/{id}");
  EXPECT_EQ(get["request_url"], "https://eu.api.test/v2/things/${var.id}");
  EXPECT_EQ(get["params"], (Json{{"verbose", "true"}}));  // optional "page" is not sent
  EXPECT_EQ(get["headers"]["X-Trace"], "abc");
  EXPECT_EQ(get["headers"]["Authorization"], "Bearer ${var.bearer}");
  EXPECT_EQ(get["assertions"][0]["value"], 203);  // YAML integer keys count too
  EXPECT_EQ(i.variables["id"], "7");
  const Json& put = i.tasks[1];
  EXPECT_EQ(put["name"], "putThing");
  EXPECT_EQ(put["json"],
            Json::parse(R"({"kind": "a", "at": "2024-01-01T00:00:00Z", "tags": ["x"]})"));
  EXPECT_EQ(put["headers"]["Content-Type"], "application/merge-patch+json");
  EXPECT_FALSE(put.contains("assertions"));
  EXPECT_TRUE(has_warning(i, "register the variable 'bearer'"));
}

TEST(OpenApiImport, Swagger2HostAndBaseUrlOverride) {
  const Json spec = Json::parse(R"({"swagger": "2.0", "host": "h:8080", "basePath": "/api/",
    "schemes": ["http"], "paths": {"/p": {"post": {"parameters": [
      {"name": "body", "in": "body", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}],
      "responses": {"200": {"description": "ok"}}}}}})");
  EXPECT_EQ(openapi_to_tasks(spec).tasks[0]["request_url"], "http://h:8080/api/p");
  EXPECT_EQ(openapi_to_tasks(spec).tasks[0]["json"], (Json{{"a", "string"}}));
  EXPECT_EQ(openapi_to_tasks(spec, "http://x/").tasks[0]["request_url"], "http://x/p");
}

TEST(OpenApiImport, ErrorsNameTheOperation) {
  auto e = error_of([] {
    openapi_to_tasks(Json::parse(R"({"openapi": "3.0.0", "paths": {"/a/{id}": {"get": {}}}})"));
  });
  EXPECT_EQ(e.first, "OpenAPI operation GET /a/{id}: path template {id} has no path parameter");
  EXPECT_EQ(e.second, "/paths/~1a~1{id}/get");
  e = error_of([] {
    openapi_to_tasks(Json::parse(R"({"openapi": "3.0.0", "paths": {"/a": {"post":
      {"parameters": [{"in": "query"}]}}}})"));
  });
  EXPECT_EQ(e.second, "/paths/~1a/post/parameters/0");
  e = error_of([] {
    openapi_to_tasks(Json::parse(R"({"openapi": "3.0.0", "paths": {"/a": {"get":
      {"parameters": [{"$ref": "#/components/parameters/Nope"}]}}}})"));
  });
  EXPECT_NE(
      e.first.find("OpenAPI operation GET /a: $ref #/components/parameters/Nope points at nothing"),
      std::string::npos);
  e = error_of([] { parse_openapi_text("a: [1,\nb: 2", "s.yaml"); });
  EXPECT_EQ(e.first.rfind("s.yaml:", 0), 0u) << e.first;
  e = error_of([] { openapi_to_tasks(Json::parse(R"({"paths": {}})")); });
  EXPECT_EQ(e.second, "/openapi");
}

TEST(JMeterImport, ScopingFunctionsAndThreadGroup) {
  const Import i = jmeter_to_tasks(R"(<jmeterTestPlan><hashTree>
    <TestPlan testname="P"/><hashTree>
      <ThreadGroup testname="T">
        <stringProp name="ThreadGroup.num_threads">10</stringProp>
        <stringProp name="ThreadGroup.ramp_time">5</stringProp>
        <elementProp name="ThreadGroup.main_controller" elementType="LoopController">
          <stringProp name="LoopController.loops">3</stringProp></elementProp>
      </ThreadGroup><hashTree>
        <HTTPSamplerProxy testname="first">
          <stringProp name="HTTPSampler.domain">h</stringProp>
          <stringProp name="HTTPSampler.port">443</stringProp>
          <stringProp name="HTTPSampler.path">q/${__Random(1,9)}</stringProp>
          <stringProp name="HTTPSampler.method">DELETE</stringProp>
        </HTTPSamplerProxy><hashTree/>
        <IfController testname="maybe"/><hashTree>
          <HTTPSamplerProxy testname="inner">
            <stringProp name="HTTPSampler.path">http://other/x</stringProp>
            <elementProp name="HTTPsampler.Arguments" elementType="Arguments">
              <collectionProp name="Arguments.arguments">
                <elementProp name="a" elementType="HTTPArgument">
                  <stringProp name="Argument.name">a</stringProp>
                  <stringProp name="Argument.value">${__P(a,5)}</stringProp></elementProp>
              </collectionProp></elementProp>
            <stringProp name="HTTPSampler.method">POST</stringProp>
          </HTTPSamplerProxy><hashTree/>
        </hashTree>
        <HeaderManager testname="H">
          <collectionProp name="HeaderManager.headers">
            <elementProp name="" elementType="Header">
              <stringProp name="Header.name">X-All</stringProp>
              <stringProp name="Header.value">1</stringProp></elementProp>
          </collectionProp></HeaderManager><hashTree/>
        <HTTPSamplerProxy testname="off" enabled="false"/><hashTree/>
      </hashTree>
    </hashTree></hashTree></jmeterTestPlan>)");
  ASSERT_EQ(i.tasks.size(), 2u) << i.tasks.dump();
  EXPECT_EQ(i.tasks[0]["request_url"], "https://h:443/q/${randint(1,9)}");
  EXPECT_EQ(i.tasks[0]["method"], "delete");
  EXPECT_EQ(i.tasks[0]["headers"]["X-All"], "1");  // a later sibling manager is in scope too
  EXPECT_EQ(i.tasks[1]["request_url"], "http://other/x");
  EXPECT_EQ(i.tasks[1]["data"], (Json{{"a", "5"}}));
  EXPECT_EQ(i.plan["user_count"], 10);
  EXPECT_EQ(i.plan["spawn_rate"], 2.0);
  EXPECT_TRUE(has_warning(i, "IfController[maybe]: its samplers are imported"));
  EXPECT_TRUE(has_warning(i, "3 loop(s) per user"));
  EXPECT_TRUE(has_warning(i, "${__P(a,5)} became its default '5'"));
}

TEST(JMeterImport, ErrorsNameTheElementPath) {
  auto e = error_of([] { jmeter_to_tasks("<jmeterTestPlan><hashTree>\n<TestPlan>\n</hashTree>"); });
  EXPECT_EQ(e.first.rfind("JMX line 3:", 0), 0u) << e.first;
  e = error_of([] { jmeter_to_tasks("<testPlan/>"); });
  EXPECT_NE(e.first.find("not <jmeterTestPlan>"), std::string::npos);
  e = error_of([] {
    jmeter_to_tasks(R"(<jmeterTestPlan><hashTree><TestPlan testname="P"/><hashTree>
      <ThreadGroup testname="T"/><hashTree><HTTPSamplerProxy testname="S">
      <stringProp name="HTTPSampler.domain">h</stringProp>
      <stringProp name="HTTPSampler.port">99999</stringProp></HTTPSamplerProxy><hashTree/>
      </hashTree></hashTree></hashTree></jmeterTestPlan>)");
  });
  EXPECT_EQ(e.first,
            "JMX jmeterTestPlan/TestPlan[P]/ThreadGroup[T]/HTTPSamplerProxy[S]: HTTPSampler.port "
            "'99999' is not a port");
}

TEST(ActionJson, WrapsTasksAsTheOriginalAndCarriesWarnings) {
  Import i;
  i.tasks.push_back({{"method", "get"}, {"request_url", "http://h/"}});
  i.warn("w");
  const Json doc = to_action_json(i, DocumentOptions{});
  EXPECT_EQ(doc["warnings"], Json::array({"w"}));
  ASSERT_EQ(doc["load_density"].size(), 1u);  // no variables: no LD_register_variables
  const Json& a = doc["load_density"][0];
  EXPECT_EQ(a[0], "LD_start_test");
  EXPECT_EQ(a[1]["user_detail_dict"]["user"], "fast_http_user");
  EXPECT_EQ(a[1]["tasks"]["mode"], "sequence");
  EXPECT_EQ(a[1]["user_count"], 10);
  EXPECT_EQ(a[1]["spawn_rate"], 5);
  EXPECT_EQ(a[1]["test_time"], 60);
}

}  // namespace
}  // namespace ld::importers
