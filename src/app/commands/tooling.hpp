#pragma once
// The tooling subcommands of the CLI (lint, schema, commands, lsp, mcp; docs/tooling.md).
#include <memory>

namespace CLI {
class App;
}

namespace ld::app {

class App;
struct ToolingCli;

// Adds the subcommands to `cli` before it parses.
std::shared_ptr<ToolingCli> add_tooling_subcommands(CLI::App& cli);
// After parsing: runs the tooling subcommand that was given and returns its exit code, or -1
// when none was.
int run_tooling_subcommand(const ToolingCli& t, App& app);

}  // namespace ld::app
