#pragma once
// Descriptions generated from the command registry and the protocols' declarations, so that
// validation, the schema, editor completion, MCP tool schemas and docs/commands.md cannot
// disagree: a JSON Schema (2020-12) of action documents and the Markdown command reference.
#include <string>
#include <vector>

#include "action/registry.hpp"
#include "core/json_util.hpp"

namespace ld::engine {
class ProtocolRegistry;
}

namespace ld::tooling {

// The fields the engine takes out of every task before the protocol sees it (docs/scenarios.md).
const std::vector<action::Param>& flow_fields();
// A user type's task fields: the protocol's declaration plus the flow fields.
std::vector<action::Param> all_task_fields(const engine::ProtocolRegistry& protocols,
                                           const std::string& user_type);

// The JSON Schema of one parameter's value (its JSON types, default and help).
Json param_schema(const action::Param& p);
// The schema of a command's arguments: {kwargs object} or [positional list].
Json arguments_schema(const action::Command& c);

// The whole schema of an action document.
Json action_schema(const action::CommandRegistry& registry,
                   const engine::ProtocolRegistry& protocols);

// docs/commands.md: every command with its arguments, then every user type's task fields.
std::string commands_markdown(const action::CommandRegistry& registry,
                              const engine::ProtocolRegistry& protocols);

}  // namespace ld::tooling
