#pragma once
// The parameter resolver: `${...}` placeholders in task strings.
//
// Grammar (as the original): a placeholder is `${TOKEN}` where TOKEN runs to the first `}`;
// nothing nests. TOKEN is stripped, then:
//   NAME            -> registered variable NAME
//   var.KEY         -> registered variable KEY (KEY may contain dots)
//   env.NAME        -> environment variable NAME
// Prefixes are case-insensitive. A placeholder that does not resolve stays verbatim, so a
// missing value is visible in the request and in reports.
//
// Resolution is split in two phases so the hot path never parses: Template::parse runs once
// per task when the plan is built and folds every value that cannot change during a run
// (registered variables, environment) into literal text. Kinds whose value changes per
// request (per-user extracted variables, CSV rows, faker, uuid(), ...) become dynamic
// segments rendered into a reused buffer.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"

namespace ld::params {

class Resolver {
 public:
  void set_variable(const std::string& name, std::string value) { vars_[name] = std::move(value); }
  void clear() { vars_.clear(); }
  const std::map<std::string, std::string>& variables() const noexcept { return vars_; }

  // Value of a token whose value is fixed for the whole run, or nullopt.
  std::optional<std::string> lookup_static(std::string_view token) const;

 private:
  std::map<std::string, std::string> vars_;
};

// One parsed string. Segments alternate literal text and placeholders that could not be
// folded at parse time.
class Template {
 public:
  static Template parse(std::string_view text, const Resolver& resolver);

  bool is_static() const noexcept { return dynamic_count_ == 0; }
  // The text when is_static(); otherwise the literal parts with placeholders verbatim.
  const std::string& text() const noexcept { return text_; }
  // Appends the rendered text to `out` (no allocation beyond `out`'s growth).
  void render(std::string& out) const;

 private:
  struct Segment {
    std::string text;   // literal text, or the verbatim placeholder for dynamic segments
    bool dynamic = false;
  };
  std::vector<Segment> segments_;
  std::string text_;
  std::size_t dynamic_count_ = 0;
};

// Resolves every string inside `value` (object keys untouched), folding static placeholders.
Json resolve_json(const Json& value, const Resolver& resolver);
std::string resolve_static(std::string_view text, const Resolver& resolver);

}  // namespace ld::params
