#pragma once
// The one dispatch point: every LD_* command is a named handler with a declared parameter list.
// Binding checks arguments before the handler runs: unknown keys (with a suggestion), wrong
// JSON types, missing required values, too many positional values. Handlers receive a
// complete object with defaults filled in, through the typed view Args.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/json_util.hpp"

namespace ld::action {

// Accepted JSON types of a parameter (bit set).
enum TypeMask : unsigned {
  kString = 1u << 0,
  kInteger = 1u << 1,
  kNumber = 1u << 2,  // includes integers
  kBool = 1u << 3,
  kObject = 1u << 4,
  kArray = 1u << 5,
  kNull = 1u << 6,
  kAny = 0x7f,
};
std::string type_mask_name(unsigned mask);
bool type_matches(const Json& v, unsigned mask);

struct Param {
  std::string name;
  unsigned types = kAny;
  bool required = false;
  Json default_value;  // used when absent and not required (null when none)
  std::string help;
  // Takes every remaining positional value as one list (Python's *args): parameters after it
  // are keyword-only. Its types are those of the list (kArray); by name it is given as a list.
  bool variadic = false;
};

// A typed view of bound arguments. bind() checked each value's JSON type against its
// parameter and filled in defaults, so the accessors only convert; an optional argument that
// is absent or null gives the fallback. Converts to the raw object for code that walks it.
class Args {
 public:
  Args(const Json& bound) noexcept : j_(bound) {}  // implicit: handlers are called with Json
  operator const Json&() const noexcept { return j_; }
  const Json& json() const noexcept { return j_; }

  const Json& operator[](const std::string& name) const;  // null when absent
  bool has(const std::string& name) const;                // present and not null
  std::string str(const std::string& name, const std::string& fallback = "") const;
  std::int64_t integer(const std::string& name, std::int64_t fallback = 0) const;
  double number(const std::string& name, double fallback = 0) const;
  bool flag(const std::string& name, bool fallback = false) const;
  // Whether the action named the argument (a default filled in by bind is not "given").
  bool given(const std::string& name) const;

 private:
  const Json& j_;
};

using Handler = std::function<Json(const Args& args)>;
using Validator = std::function<void(const Args& args)>;  // throws ConfigError

struct Command {
  std::string name;
  std::string summary;
  std::vector<Param> params;
  Handler handler;
  Validator validate;        // optional static check before anything runs
  bool starts_load = false;  // skipped once the run was interrupted
  bool needs_records = false;  // reads per-request records: runs keep a record log when set
  // The parameter that holds a nested action list (LD_execute_action): the static check of a
  // document checks the nested actions too, to limits::kMaxActionNesting levels.
  std::string nested_actions;
  // Where the command comes from: empty for loaddensity's own, a plugin library's path.
  std::string origin;
};

class CommandRegistry {
 public:
  // Throws std::logic_error when `c.name` is already registered.
  void add(Command c);
  const Command* find(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  // Names close to `name`, for "did you mean".
  std::string suggest(const std::string& name) const;
  // A name a document may not use, with the reason (eval, LD_add_package_to_executor, ...):
  // the static check refuses it with that text instead of "unknown command".
  void refuse(const std::string& name, std::string reason);
  const std::string* refusal(const std::string& name) const;  // null unless refused

  // Binds raw arguments (object, array or null) to the command's parameters. Throws
  // ConfigError whose pointer is relative to the arguments value.
  Json bind(const Command& c, const Json& raw) const;

 private:
  std::map<std::string, Command> commands_;
  std::map<std::string, std::string> refused_;
};

}  // namespace ld::action
