#pragma once
// The parameter resolver: `${...}` placeholders in task strings.
//
// Grammar (as the original): a placeholder is `${TOKEN}` where TOKEN runs to the first `}`;
// nothing nests. TOKEN is stripped, then:
//   name(args)      -> uuid(), now(), randint(a,b)      (case-insensitive; per request)
//   NAME            -> the user's extracted variable NAME, else the registered one
//   var.KEY         -> the same, KEY may contain dots
//   env.NAME        -> environment variable NAME
//   csv.SRC.COL     -> column COL of the row this task execution took from CSV source SRC
//   db.SRC.COL      -> the same for a database source
//   faker.METHOD    -> fake data (built-in generator)
// Prefixes are case-insensitive. A placeholder that does not resolve stays verbatim, so a
// missing value is visible in the request and in reports. Two exceptions are errors when the
// template is parsed (before any request): a column that a registered source lacks, and a
// source whose registration failed.
//
// Resolution is split in two phases so the hot path never parses: Template::parse runs once
// per task when the plan is built and folds every value that cannot change during the run
// (registered variables nobody extracts, environment) into literal text. The rest become
// dynamic segments that render() appends to a reused buffer.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"

namespace ld::params {

// Rows of a CSV file or a database query, loaded once; read-only while a test runs except for
// the shared row cursor.
class DataSource {
 public:
  std::string name;
  std::string origin;  // file path or connection string, for messages
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  bool cycle = true;

  int column(std::string_view col) const;  // -1 when absent
  // The next row for one task execution, shared by every user and thread; -1 once a
  // non-cycling source is exhausted.
  std::int64_t take_row() noexcept;
  void rewind() noexcept { next_.store(0); }

 private:
  std::atomic<std::uint64_t> next_{0};
};

// Per-user state that dynamic placeholders read and extractors write. Lives on the user's
// worker thread.
class UserScope {
 public:
  explicit UserScope(std::uint64_t seed, std::size_t sources = 0);

  const std::string* find(std::string_view name) const noexcept;
  void set(std::string_view name, std::string_view value);
  // Starts one task execution: CSV/DB rows are taken afresh by the next render.
  void begin_task() noexcept;
  std::uint64_t next_random() noexcept;  // xorshift64*
  double uniform() noexcept { return static_cast<double>(next_random() >> 11) * 0x1.0p-53; }

  std::vector<std::int64_t> rows;  // row taken per source index in this task execution
  static constexpr std::int64_t kNoRow = -2;

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
  std::uint64_t rng_;
};

class Resolver {
 public:
  void set_variable(const std::string& name, std::string value) { vars_[name] = std::move(value); }
  void clear();  // variables and sources
  const std::map<std::string, std::string>& variables() const noexcept { return vars_; }

  // Registers (replaces) a source; kind is "csv" or "db".
  void add_source(const std::string& kind, std::shared_ptr<DataSource> source);
  DataSource* source(const std::string& kind, std::string_view name, std::size_t* index) const;
  std::size_t source_count() const noexcept { return sources_.size(); }
  const std::vector<std::pair<std::string, std::shared_ptr<DataSource>>>& sources() const {
    return sources_;
  }
  void rewind_sources();
  // A source whose registration failed at run time: placeholders naming it are an error
  // (the test that uses them does not start) instead of staying verbatim.
  void mark_failed(const std::string& kind, const std::string& name, std::string why);
  const std::string* failure(const std::string& kind, std::string_view name) const;

  void set_faker_seed(std::optional<std::uint64_t> seed) { faker_seed_ = seed; }
  std::optional<std::uint64_t> faker_seed() const noexcept { return faker_seed_; }

  // Value of a token whose value is fixed for the whole run, or nullopt.
  std::optional<std::string> lookup_static(std::string_view token) const;

 private:
  std::map<std::string, std::string> vars_;
  std::vector<std::pair<std::string, std::shared_ptr<DataSource>>> sources_;  // "csv:NAME"
  std::map<std::string, std::string, std::less<>> failed_;                    // "csv:NAME" -> why
  std::optional<std::uint64_t> faker_seed_;
};

// How dynamic text is written into its surroundings.
enum class Escape : std::uint8_t {
  kNone,
  kJson,    // inside a JSON string literal
  kUrl,     // a query/form component (percent-encoded)
  kHeader,  // a header value (line breaks removed)
};
void append_escaped(std::string& out, std::string_view text, Escape e);

// What parsing needs to know besides the registry: which variable names users extract (those
// cannot be folded), and how the parsed text will be embedded.
struct ParseContext {
  const Resolver& resolver;
  const std::set<std::string>* user_vars = nullptr;
};

class Template {
 public:
  static Template parse(std::string_view text, const ParseContext& ctx);
  static Template literal(std::string_view text);

  bool is_static() const noexcept { return dynamic_count_ == 0; }
  // The text when is_static(); otherwise the literal parts with placeholders verbatim.
  const std::string& text() const noexcept { return text_; }
  void render(std::string& out, UserScope& scope) const;
  std::string render(UserScope& scope) const {
    std::string s;
    render(s, scope);
    return s;
  }

  // Building composite templates (request heads, JSON bodies): literal text is appended as
  // is; `t` is appended with its static parts escaped now and dynamic parts escaped at render.
  void append_literal(std::string_view text);
  void append(const Template& t, Escape e);

 private:
  enum class Kind : std::uint8_t { kLiteral, kVar, kSource, kFaker, kUuid, kNow, kRandint };
  struct Segment {
    Kind kind = Kind::kLiteral;
    Escape escape = Escape::kNone;
    std::string text;      // literal text; for kVar the name; verbatim placeholder otherwise
    std::string fallback;  // kVar: registered value or the verbatim placeholder
    DataSource* source = nullptr;
    std::size_t source_index = 0;
    int column = 0;        // kSource; faker method id for kFaker
    std::int64_t lo = 0, hi = 0;  // kRandint
  };
  void push_literal(std::string_view s);
  void render_segment(const Segment& s, std::string& out, UserScope& scope) const;

  std::vector<Segment> segments_;
  std::string text_;
  std::size_t dynamic_count_ = 0;
};

// Resolves every string inside `value` (object keys untouched), folding static placeholders;
// with a ParseContext, variables some task extracts stay ${...} (they are per user), as every
// per-request placeholder does: what a protocol compiles the fixed parts of a task from.
Json resolve_json(const Json& value, const ParseContext& ctx);
Json resolve_json(const Json& value, const Resolver& resolver);
std::string resolve_static(std::string_view text, const Resolver& resolver);
// Every task of a list resolved as above.
std::vector<Json> resolve_json_list(const std::vector<Json>& values, const ParseContext& ctx);
// Resolves every string inside `value` for one user now (dynamic placeholders included).
Json resolve_json_for(const Json& value, const ParseContext& ctx, UserScope& scope);

// A JSON value as a template of its serialisation: string values (not keys) may hold
// placeholders, rendered JSON-escaped.
Template json_template(const Json& value, const ParseContext& ctx);

}  // namespace ld::params
