// Plugins: LD_load_plugin, the plugins named by --plugin, and the original's ways of adding
// Python functions (refused with what to use instead). docs/plugins.md.
#include "plugins/plugins.hpp"
#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;

void register_plugin_commands(action::CommandRegistry& r, App& app) {
  auto allowed = [&app] {
    if (!app.options_.load_plugins) {
      throw ConfigError(
          "LD_load_plugin is refused here: a client of the control socket cannot load code "
          "into the server (start the server with `loaddensity serve --plugin PATH`)",
          "/path");
    }
  };
  r.add(Command{
      "LD_load_plugin",
      "Load a plugin (a shared library with the C ABI of include/loaddensity/plugin.h) and "
      "register its commands for the rest of the run; returns the library's path and commands.",
      {{"path", A::kString, true, nullptr,
        "the library, e.g. \"./libx.so\" (relative to the working directory, else to the "
        "document)"}},
      [&app, allowed](const Args& a) -> Json {
        allowed();
        const plugins::Loaded l = plugins::load_into(app.registry_, a.str("path"));
        return {{"path", l.path}, {"commands", l.commands}};
      },
      // Loaded while the document is checked, so the actions after it can name its commands.
      [&app, allowed](const Args& a) {
        allowed();
        try {
          (void)plugins::load_into(app.registry_, a.str("path"));
        } catch (const ConfigError& e) {
          throw ConfigError(e.what(), "/path");
        }
      }});
  const std::string instead =
      "; loaddensity runs no Python. Write the functions in C or C++ as a plugin (a shared "
      "library with the C ABI of include/loaddensity/plugin.h: each command takes its arguments "
      "as JSON and returns JSON) and load it with [\"LD_load_plugin\", {\"path\": \"libx.so\"}] "
      "or `loaddensity --plugin libx.so` (docs/plugins.md)";
  r.refuse("LD_add_package_to_executor",
           "it registered a Python package's functions as commands" + instead);
  r.refuse("add_command_to_executor", "it registered Python functions as commands" + instead);

  // --plugin: checked by the CLI's own App first, so a session's App cannot fail here.
  for (const std::string& path : app.options_.plugins) (void)plugins::load_into(r, path);
}

}  // namespace ld::app
