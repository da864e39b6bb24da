#pragma once
namespace ld::app {
// Parses argv and runs the requested mode; returns the process exit code.
int run_cli(int argc, char** argv);
}  // namespace ld::app
