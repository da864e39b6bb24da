#pragma once
// What the language server and the MCP server need from the program around them: the
// registries, the static check, running a document, scaffolding. The App provides it
// (src/app/commands/tooling.cpp); src/tooling depends on no App.
#include <functional>
#include <string>

#include "action/executor.hpp"
#include "tooling/lint.hpp"

namespace ld::engine {
class ProtocolRegistry;
}

namespace ld::tooling {

struct Host {
  const action::CommandRegistry& registry;
  const engine::ProtocolRegistry& protocols;
  // The static check of a document (throws ConfigError, runs nothing).
  std::function<void(const action::Document&)> check;
  // Checks and runs a document (throws ConfigError when it does not pass the check).
  std::function<action::ExecutionReport(const action::Document&)> execute;
  // Scaffolds a project at a path (`loaddensity init`); returns what was written.
  std::function<std::string(const std::string&)> create_project;
  std::string version;

  LintContext lint_context() const { return LintContext{registry, check}; }
};

// Message framing of the two stdio servers. LSP: "Content-Length: N\r\n\r\n" + body.
// MCP (stdio transport): one JSON object per line. Both return false at the end of input.
bool read_lsp_message(std::istream& in, std::string& body);
void write_lsp_message(std::ostream& out, const Json& message);
bool read_line_message(std::istream& in, std::string& body);
void write_line_message(std::ostream& out, const Json& message);

// JSON-RPC 2.0 replies.
Json rpc_result(const Json& id, Json result);
Json rpc_error(const Json& id, int code, const std::string& message);

// `loaddensity lsp` and `loaddensity mcp`: serve until the input ends (or `exit`). Return the
// process exit code.
int run_lsp(const Host& host, std::istream& in, std::ostream& out);
int run_mcp(const Host& host, std::istream& in, std::ostream& out);

}  // namespace ld::tooling
