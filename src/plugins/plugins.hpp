#pragma once
// Plugins: shared libraries that add commands through the C ABI of
// include/loaddensity/plugin.h (docs/plugins.md). A library is opened and initialised once per
// process (its commands are copied into a Library); each registry (the CLI's App, every
// `serve` session) then registers the commands of the libraries it was asked to load.
#include <string>
#include <vector>

#include "loaddensity/core/json.hpp"

namespace ld::action {
class CommandRegistry;
}

namespace ld::plugins {

// What loading a plugin into a registry did: the library's canonical path, its commands, and
// whether they were registered now (false: this registry had them already).
struct Loaded {
  std::string path;
  std::vector<std::string> commands;
  bool newly_registered = false;
};

// Opens `path` (relative paths as data paths: the working directory, then the running
// document's directory), checks its ABI version, initialises it once per process and registers
// its commands on `r`, all or nothing. Throws ConfigError naming the path and what is wrong:
// no such file, not a loadable library, a missing symbol, another ABI version, a failed init,
// a malformed command, or a name `r` already has.
Loaded load_into(action::CommandRegistry& r, const std::string& path);

}  // namespace ld::plugins
