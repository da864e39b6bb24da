#pragma once
// The original registered a fixed set of harmless Python builtins next to the LD_* commands
// (print, len, max, ...). They are commands here, with Python's meaning applied to JSON values
// (null is None, a list a list, an object a dict); Python builtins with no meaning on JSON
// values or that would run code, read memory or touch files (eval, exec, open, __import__,
// id, getattr, ...) are refused names, each with its reason (docs/builtins.md).
#include <iosfwd>
#include <string>

#include "loaddensity/core/json.hpp"

namespace ld::action {
class CommandRegistry;
}

namespace ld::app {

// Registers the builtins and the refused names. `out` receives what print writes.
void add_builtin_commands(action::CommandRegistry& r, std::ostream& out);

// Python's repr() and str() of a JSON value (dict keys in the JSON object's sorted order).
std::string py_repr(const Json& v);
std::string py_str(const Json& v);

}  // namespace ld::app
