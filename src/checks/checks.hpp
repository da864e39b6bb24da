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

#include "checks/path_scan.hpp"
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

// The body as a document, as the checks read it when they do not scan (and did before the
// scan): false when it is not JSON or nests deeper than scan::kMaxDepth.
bool parse_body_json(std::string_view body, Json& out);

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
  // read as JSON at most once: one scan for every path (scan::find_paths), no document built.
  const char* apply(const ResponseView& r, params::UserScope& scope) const;

  // False when the paths exceed what one scan evaluates (more than scan::kMaxPaths distinct
  // paths, or one longer than scan::kMaxSteps steps): the body is then parsed into a document.
  bool scans_paths() const noexcept { return scan_; }

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
    std::uint32_t slot = 0;     // index of the path in paths_
    std::string name;           // header name
    std::string message;        // "assertion status_code == 200"
  };
  enum class From { kJsonPath, kHeader, kStatus };
  struct Extractor {
    From from;
    std::string var;
    JsonPath path;
    std::uint32_t slot = 0;
    std::string name;
  };
  class Body;
  std::uint32_t add_path(const std::string& text, const JsonPath& path,
                         std::vector<std::string>& texts, std::vector<const JsonPath*>& parsed);
  void build_scan(const std::vector<const JsonPath*>& parsed);
  bool json_path_holds(const Assertion& a, std::string_view expected, Body& body) const;
  void extract_json_path(const Extractor& e, Body& body, params::UserScope& scope) const;
  std::vector<Assertion> assertions_;
  std::vector<Extractor> extractors_;
  bool needs_body_ = false;
  bool needs_headers_ = false;
  bool needs_json_ = false;
  // The distinct json_path paths as scan steps (member names point into scan_keys_).
  bool scan_ = false;
  std::string scan_keys_;
  std::vector<scan::Step> scan_steps_;
  std::vector<scan::Path> paths_;
};

}  // namespace ld::checks
