// Tooling on the command registry: LD_lint_action, LD_lint_action_file, LD_export_schema, and
// the CLI's lint, schema, commands, lsp and mcp (src/tooling does the work; docs/tooling.md).
#include "app/commands/tooling.hpp"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "app/scaffold.hpp"
#include "loaddensity/core/error.hpp"
#include "tooling/host.hpp"
#include "tooling/schema.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;

namespace {

tooling::Host host_for(App& app) {
  return tooling::Host{app.registry(),
                       app.protocols(),
                       [&app](const action::Document& d) { app.check(d); },
                       [&app](const action::Document& d) { return app.execute(d); },
                       [](const std::string& path) { return scaffold_project(path); },
                       LD_VERSION};
}

Json findings_json(const std::vector<tooling::Finding>& findings) {
  Json out = Json::array();
  for (const auto& f : findings) out.push_back(tooling::finding_json(f));
  return out;
}

// Writes indented JSON, creating parent directories; returns the absolute path.
std::string write_json_file(const std::string& path, const Json& value) {
  namespace fs = std::filesystem;
  const fs::path p = fs::absolute(path);
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  std::ofstream f(p);
  f << value.dump(2) << '\n';
  f.close();
  if (!f) throw std::runtime_error("cannot write " + p.string());
  return p.string();
}

}  // namespace

void register_tooling_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{"LD_lint_action",
                "Check an action document without running it; returns the findings "
                "[{rule, severity, message, location, line, column, ...}].",
                {{"actions", A::kAny, true, nullptr,
                  "the document: a list of actions, {\"load_density\": [...]} or its JSON text"}},
                [&app](const Args& a) -> Json {
                  const Json& v = a["actions"];
                  const tooling::Host host = host_for(app);
                  return findings_json(tooling::lint_text(
                      host.lint_context(), v.is_string() ? v.get<std::string>() : v.dump(2),
                      "<actions>"));
                }});
  r.add(Command{"LD_lint_action_file",
                "Check an action file without running it; returns the findings.",
                {{"file_path", A::kString, true, nullptr, "the action file"}},
                [&app](const Args& a) -> Json {
                  const tooling::Host host = host_for(app);
                  return findings_json(tooling::lint_file(host.lint_context(), a.str("file_path")));
                }});
  r.add(Command{"LD_export_schema",
                "Write the JSON Schema (2020-12) of action documents to a file and return its "
                "absolute path; without a path, return the schema.",
                {{"path", A::kString | A::kNull, false, nullptr,
                  "where to write it (parent directories are created)"}},
                [&app](const Args& a) -> Json {
                  Json schema = tooling::action_schema(app.registry(), app.protocols());
                  if (!a.has("path")) return schema;
                  return write_json_file(a.str("path"), schema);
                }});
}

struct ToolingCli {
  CLI::App* lint = nullptr;
  std::vector<std::string> lint_files;
  std::string lint_format = "text";
  CLI::App* schema = nullptr;
  std::string schema_out;
  CLI::App* commands = nullptr;
  bool markdown = true;
  CLI::App* lsp = nullptr;
  CLI::App* mcp = nullptr;
};

std::shared_ptr<ToolingCli> add_tooling_subcommands(CLI::App& cli) {
  auto t = std::make_shared<ToolingCli>();
  t->lint = cli.add_subcommand(
      "lint", "Check action files without running them: errors (exit 2) and warnings");
  t->lint->add_option("files", t->lint_files, "Action JSON files")->required();
  t->lint->add_option("--format", t->lint_format, "text, json or github (workflow annotations)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json", "github"}));
  t->schema = cli.add_subcommand("schema", "Print the JSON Schema (2020-12) of action documents");
  t->schema->add_option("-o,--output", t->schema_out, "Write it to FILE instead")
      ->option_text("FILE");
  t->commands = cli.add_subcommand(
      "commands", "Print the command and task-field reference (docs/commands.md) as Markdown");
  t->commands->add_flag("--markdown", t->markdown, "Markdown (the default)");
  t->lsp = cli.add_subcommand("lsp", "Language server for action documents, over stdio");
  t->mcp = cli.add_subcommand("mcp", "Model Context Protocol server, over stdio");
  for (CLI::App* sub : {t->lint, t->schema, t->commands, t->lsp, t->mcp}) sub->footer("");
  return t;
}

int run_tooling_subcommand(const ToolingCli& t, App& app) {
  if (t.lint->parsed()) {
    const tooling::Host host = host_for(app);
    std::vector<std::pair<std::string, std::vector<tooling::Finding>>> files;
    std::size_t errors = 0;
    for (const auto& f : t.lint_files) {
      files.emplace_back(f, tooling::lint_file(host.lint_context(), f));
      errors += tooling::count_errors(files.back().second);
    }
    tooling::print_findings(std::cout,
                            t.lint_format == "json"     ? tooling::LintFormat::kJson
                            : t.lint_format == "github" ? tooling::LintFormat::kGithub
                                                        : tooling::LintFormat::kText,
                            files);
    return errors ? kExitBadInput : kExitOk;
  }
  if (t.schema->parsed()) {
    const Json schema = tooling::action_schema(app.registry(), app.protocols());
    if (t.schema_out.empty()) {
      std::cout << schema.dump(2) << '\n';
    } else {
      std::cout << write_json_file(t.schema_out, schema) << '\n';
    }
    return kExitOk;
  }
  if (t.commands->parsed()) {
    std::cout << tooling::commands_markdown(app.registry(), app.protocols());
    return kExitOk;
  }
  if (t.lsp->parsed() || t.mcp->parsed()) {
    // stdout carries the protocol: the session prints its per-action lines and tables to
    // stderr.
    Options o;
    o.quiet = true;
    App session(std::cerr, std::cerr, o);
    if (t.mcp->parsed()) {
      // Reports written through MCP need the per-request records of the runs before them.
      session.prepare({action::parse_document_json(
          Json::array({Json::array({"LD_generate_json_report"})}), "mcp")});
    }
    const tooling::Host host = host_for(session);
    std::ios::sync_with_stdio(false);
    return t.lsp->parsed() ? tooling::run_lsp(host, std::cin, std::cout)
                           : tooling::run_mcp(host, std::cin, std::cout);
  }
  return -1;
}

}  // namespace ld::app
