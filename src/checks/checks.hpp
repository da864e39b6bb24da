#pragma once
// Assertions and extractors on a response, compiled once per task.
//
// Assertions (checked in order; the first failure fails the request with a message naming the
// rule): status_code, contains, not_contains, json_path {path, value}, header {name, value}.
// Types are case-insensitive. Extractors {var, from: json_path (default) | header |
// status_code, path | name} run only when every assertion passed and write per-user
// variables. Expected values and paths may hold placeholders.
//
// json_path: the original's dotted walk ("data.items.0.id": list cursors take an integer
// index, empty segments are skipped) plus a `$` root and `[n]` indexes ("$.data.items[0].id").
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"
#include "params/resolver.hpp"

namespace ld::checks {

// What a protocol hands to the checks; views are valid during the call only.
struct ResponseView {
  int status = 0;
  std::string_view body;
  std::string_view header_block;  // raw "Name: value\r\n" lines; empty when not captured

  // Value of the first header named `name` (case-insensitive), or nullopt-like empty + false.
  bool header(std::string_view name, std::string_view& value) const;
};

struct JsonPath {
  struct Step {
    std::string key;
    std::int64_t index = 0;
    bool is_index = false;   // from [n]
    bool numeric = false;    // key that parses as an integer (list index in the dotted form)
  };
  std::vector<Step> steps;
  static JsonPath parse(std::string_view path);
  // The value at the path, or nullptr.
  const Json* find(const Json& root) const;
};

class Checks {
 public:
  // Throws ConfigError with a pointer relative to the task ("/assertions/1/value").
  // `http` false: the reply is a body only (a WebSocket message, socket bytes, an SSE event's
  // data), so status_code and header checks and extractors are refused.
  static std::unique_ptr<Checks> compile(const Json& task, const params::ParseContext& ctx,
                                         bool http = true);
  // Types only, before placeholders resolve.
  static void validate(const Json& task, bool http = true);

  bool empty() const noexcept { return assertions_.empty() && extractors_.empty(); }
  bool has_assertions() const noexcept { return !assertions_.empty(); }
  bool needs_body() const noexcept { return needs_body_; }
  bool needs_headers() const noexcept { return needs_headers_; }

  // Runs the assertions in order, then (all passed) the extractors. Returns nullptr on
  // success, else the failing rule's message (storage owned by this object). The body is
  // parsed as JSON at most once.
  const char* apply(const ResponseView& r, params::UserScope& scope) const;

  // Variable names written by extractors (they cannot be folded at parse time).
  static void collect_extracted(const Json& task, std::set<std::string>& out);

 private:
  enum class Type { kStatus, kContains, kNotContains, kJsonPath, kHeader };
  struct Assertion {
    Type type;
    params::Template expected;  // string form of the expected value
    Json expected_json;         // for json_path equality (non-string values)
    bool expected_is_string = true;
    JsonPath path;
    std::string name;           // header name
    std::string message;        // "assertion status_code == 200"
  };
  enum class From { kJsonPath, kHeader, kStatus };
  struct Extractor {
    From from;
    std::string var;
    JsonPath path;
    std::string name;
  };
  std::vector<Assertion> assertions_;
  std::vector<Extractor> extractors_;
  bool needs_body_ = false;
  bool needs_headers_ = false;
  bool needs_json_ = false;
};

}  // namespace ld::checks
