#pragma once
// The static check of action documents without running them (docs/tooling.md): every check the
// run makes before its first action (the document's shape, commands, arguments, the
// validators of LD_start_test and the protocols' task fields, data files), each action checked
// on its own so that one file reports all its errors, plus warnings (unused variables, a task
// name used with two methods, a test without a report action). Findings carry a JSON pointer
// and, from a locating scan of the text, a line and column range.
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "action/loader.hpp"
#include "action/registry.hpp"
#include "core/json_util.hpp"

namespace ld::tooling {

enum class Severity { kError, kWarning };

struct Finding {
  std::string rule;  // invalid-json, invalid-shape, unknown-command, invalid-action, ...
  Severity severity = Severity::kError;
  std::string message;
  std::string pointer;  // where in the document ("" = the whole document)
  // 0-based; columns in UTF-16 code units (LSP's); end is exclusive.
  std::size_t line = 0, column = 0, end_line = 0, end_column = 0;
};

struct LintContext {
  const action::CommandRegistry& registry;
  // The static check of one document (App::check): throws ConfigError; runs nothing.
  std::function<void(const action::Document&)> check;
};

// Lints a document given as text. `source` names it in messages (a path or "<string>").
std::vector<Finding> lint_text(const LintContext& ctx, std::string_view text,
                               const std::string& source);
// Reads `path` (the run's limits apply) and lints it; a file that cannot be read is one finding.
std::vector<Finding> lint_file(const LintContext& ctx, const std::string& path);

std::size_t count_errors(const std::vector<Finding>& findings);
const char* severity_name(Severity s);
Json finding_json(const Finding& f);

// Output of `loaddensity lint`: text ("path:line:col: error: message [rule]"), JSON, or GitHub
// workflow commands ("::error file=...,line=...,col=...,title=...::message").
enum class LintFormat { kText, kJson, kGithub };
void print_findings(std::ostream& out, LintFormat format,
                    const std::vector<std::pair<std::string, std::vector<Finding>>>& files);

}  // namespace ld::tooling
