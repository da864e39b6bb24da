#pragma once
// Importers: HAR, Postman v2.1, OpenAPI 3.0/3.1 (and Swagger 2.0), cURL, k6 and JMeter turned
// into LD_start_test tasks (docs/importers.md). Each importer returns an Import: the tasks,
// the variables the tasks refer to, the plan it read (users, test time, stages) and a warning
// for everything it could not convert. Bad input is a ConfigError naming the place (HAR entry
// index, Postman item path, OpenAPI operation, JMX element path, k6 line) and a JSON pointer
// where the input is JSON.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"

namespace ld::importers {

struct Import {
  Json tasks = Json::array();
  Json variables = Json::object();  // registered with LD_register_variables before the test
  Json plan = Json::object();       // LD_start_test arguments read from the source
  Json warnings = Json::array();    // strings: what was not converted, and where

  void warn(std::string message) { warnings.push_back(std::move(message)); }
};

// What the caller chooses; unset values come from the import's plan, then the defaults of the
// original (10 users, spawn rate 5, 60 s).
struct DocumentOptions {
  std::string user = "fast_http_user";
  std::optional<double> user_count, spawn_rate, test_time;
};

// {"load_density": [[LD_register_variables]?, [LD_start_test, {...}]], "warnings": [...]}.
// The loader reads only "load_density", so the warnings travel with the document.
Json to_action_json(const Import& imp, const DocumentOptions& opts);

// A file read whole (at most 64 MiB); `what` names it in errors.
std::string read_text(const std::string& path, const std::string& what);

// --- HAR 1.2: include/exclude are ECMAScript regexes searched in each entry's full URL.
Json load_har(const std::string& path);
Import har_to_tasks(const Json& har, const std::vector<std::string>& include = {},
                    const std::vector<std::string>& exclude = {});

// --- Postman collection v2.0/v2.1.
Json load_postman(const std::string& path);
Import postman_to_tasks(const Json& collection);

// --- OpenAPI 3.0/3.1 (JSON or YAML; Swagger 2.0 host/basePath too). `base_url`, when not
// empty, replaces the spec's server.
Json load_openapi(const std::string& path);
Json parse_openapi_text(std::string_view text, const std::string& source);
Import openapi_to_tasks(const Json& spec, const std::string& base_url = "");

// --- cURL command line (bash quoting, as "Copy as cURL" writes it).
Json curl_to_task(std::string_view command, Import* imp = nullptr);
Import curl_to_tasks(std::string_view command);

// --- k6 script: read, never run.
std::string load_k6_script(const std::string& path);
Import k6_to_tasks(std::string_view script);

// --- JMeter .jmx test plan.
std::string load_jmeter_jmx(const std::string& path);
Import jmeter_to_tasks(std::string_view jmx);

// Helpers shared by the importers (common.cpp).
namespace detail {
// "/path?query" of an absolute URL, "/" when nothing follows the authority; other text whole.
std::string url_path(std::string_view url);
// "GET /path" for a task name.
std::string default_name(std::string_view method, std::string_view url);
// Sets json (when the text parses as JSON and looks like an object or array, or `is_json`)
// or data on the task.
void set_text_body(Json& task, const std::string& text, bool is_json);
// Seconds in a k6/JMeter duration: "1m30s", "500ms", "2h", "45" (seconds). nullopt if bad.
std::optional<double> parse_duration(std::string_view text);
// "Text with {{name}}" -> "Text with ${var.name}"; Postman dynamic variables ({{$guid}}, ...)
// become placeholders of ours where one exists; `unknown` collects the others.
std::string postman_template(std::string_view text, std::vector<std::string>* unknown);
// The character a backslash escape stands for in shell $'...' and JavaScript strings, for the
// escapes both share (\n \t \r); any other character stands for itself (\\ \' \").
constexpr char simple_escape(char e) noexcept {
  return e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
}
}  // namespace detail

}  // namespace ld::importers
