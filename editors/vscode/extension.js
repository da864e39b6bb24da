// Starts `loaddensity lsp` for action documents: diagnostics (the lint), completion of command
// names, arguments and task fields, hover docs. The schema is associated through
// contributes.jsonValidation in package.json.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("loaddensity");
  const command = config.get("path", "loaddensity");
  const args = config.get("lspArgs", ["lsp"]);
  const patterns = config.get("filePatterns", ["**/*.action.json"]);
  const documentSelector = [];
  for (const language of ["json", "jsonc"]) {
    for (const pattern of patterns) documentSelector.push({ scheme: "file", language, pattern });
  }
  client = new LanguageClient(
    "loaddensity",
    "LoadDensity",
    { command, args, options: {} },
    { documentSelector }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
