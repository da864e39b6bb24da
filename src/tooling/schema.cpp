#include "tooling/schema.hpp"

#include <cctype>
#include <sstream>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::tooling {

using action::Param;

const std::vector<Param>& flow_fields() {
  static const std::vector<Param> kFields = {
      {"run_if", action::kAny, false, nullptr,
       "run the task only when this predicate holds (docs/scenarios.md)"},
      {"skip_if", action::kAny, false, nullptr,
       "skip the task when this predicate holds (docs/scenarios.md)"},
      {"think_time", action::kNumber | action::kArray | action::kObject, false, nullptr,
       "pause after the task: seconds, [min, max] or an object (docs/scenarios.md)"},
      {"throttle", action::kAny, false, nullptr,
       "a rate shared by every user naming the same key (docs/scenarios.md)"},
      {"retry", action::kAny, false, nullptr,
       "retry a failed task: attempts and backoff (docs/scenarios.md)"},
  };
  return kFields;
}

std::vector<Param> all_task_fields(const engine::ProtocolRegistry& protocols,
                                   const std::string& user_type) {
  std::vector<Param> out;
  if (const engine::Protocol* p = protocols.find(user_type)) out = p->task_fields(user_type);
  for (const Param& f : flow_fields()) out.push_back(f);
  return out;
}

namespace {

Json types_of(unsigned m, bool allow_null) {
  if ((m & action::kAny) == action::kAny) return nullptr;
  Json t = Json::array();
  if (m & action::kString) t.push_back("string");
  if (m & action::kNumber) {
    t.push_back("number");
  } else if (m & action::kInteger) {
    t.push_back("integer");
  }
  if (m & action::kBool) t.push_back("boolean");
  if (m & action::kObject) t.push_back("object");
  if (m & action::kArray) t.push_back("array");
  if ((m & action::kNull) || allow_null) t.push_back("null");
  return t;
}

Json task_list_schema(const engine::ProtocolRegistry& protocols, const std::string& user_type) {
  Json props = Json::object();
  for (const Param& f : all_task_fields(protocols, user_type)) props[f.name] = param_schema(f);
  const Json task = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  const Json list = {{"type", "array"}, {"items", task}};
  return {{"anyOf",
           Json::array({list,
                        {{"type", "object"},
                         {"description", "a task block: a mode and its task list"},
                         {"properties",
                          {{"mode", {{"enum", {"sequence", "weighted", "conditional"}}}},
                           {"tasks", list}}},
                         {"required", {"tasks"}},
                         {"additionalProperties", false}},
                        {{"type", "object"},
                         {"description", "the legacy form: {\"get\": {task}, \"post\": {task}}"},
                         {"not", {{"anyOf", Json::array({{{"required", {"tasks"}}},
                                                          {{"required", {"mode"}}}})}}},
                         {"additionalProperties", task}}})}};
}

}  // namespace

Json param_schema(const Param& p) {
  Json s = Json::object();
  // An optional argument given as null takes its default (as in the original), so null is
  // accepted for every optional parameter.
  const Json t = types_of(p.types, !p.required);
  if (!t.is_null()) s["type"] = t.size() == 1 ? t[0] : t;
  if (!p.help.empty()) s["description"] = p.help;
  if (!p.default_value.is_null()) s["default"] = p.default_value;
  return s;
}

Json arguments_schema(const action::Command& c) {
  Json props = Json::object();
  Json required = Json::array();
  Json positional = Json::array();
  std::size_t min_positional = 0;
  for (std::size_t i = 0; i < c.params.size(); ++i) {
    const Param& p = c.params[i];
    Json s = param_schema(p);
    if (p.name == c.nested_actions) s = {{"$ref", "#/$defs/nested_actions"}};
    props[p.name] = s;
    positional.push_back(s);
    if (p.required) {
      required.push_back(p.name);
      min_positional = i + 1;
    }
  }
  Json kwargs = {{"type", "object"},
                 {"description", "keyword arguments"},
                 {"properties", props},
                 {"additionalProperties", false}};
  if (!required.empty()) kwargs["required"] = required;
  Json list = {{"type", "array"}, {"description", "positional arguments"}, {"maxItems", c.params.size()}};
  if (!positional.empty()) list["prefixItems"] = positional;
  if (min_positional) list["minItems"] = min_positional;
  return {{"oneOf", Json::array({kwargs, list})}};
}

Json action_schema(const action::CommandRegistry& registry,
                   const engine::ProtocolRegistry& protocols) {
  Json defs = Json::object();
  Json names = Json::array();
  Json by_command = Json::array();
  for (const std::string& n : registry.names()) {
    const action::Command* c = registry.find(n);
    names.push_back(n);
    Json args = arguments_schema(*c);
    if (n == "LD_start_test") {
      // The task fields depend on the user type.
      Json cond = Json::array();
      for (const std::string& t : protocols.user_types()) {
        cond.push_back(
            {{"if",
              {{"properties", {{"user_detail_dict", {{"properties", {{"user", {{"const", t}}}}},
                                                     {"required", {"user"}}}}}},
               {"required", {"user_detail_dict"}}}},
             {"then", {{"properties", {{"tasks", task_list_schema(protocols, t)}}}}}});
      }
      Json& kwargs = args["oneOf"][0];
      kwargs["properties"]["user_detail_dict"] = {
          {"type", "object"},
          {"description", "the user type and its options"},
          {"properties", {{"user", {{"enum", protocols.user_types()},
                                    {"description", "the protocol each virtual user speaks"}}}}},
          {"required", {"user"}}};
      kwargs["allOf"] = cond;
    }
    Json item = {{"prefixItems", Json::array({true, args})}};
    bool needs_args = false;
    for (const Param& p : c->params) needs_args = needs_args || p.required;
    if (needs_args) item["minItems"] = 2;
    defs[n] = item;
    by_command.push_back({{"if", {{"prefixItems", Json::array({{{"const", n}}})}}},
                          {"then", {{"$ref", "#/$defs/" + n}}}});
  }
  defs["action"] = {
      {"type", "array"},
      {"minItems", 1},
      {"maxItems", 2},
      {"prefixItems",
       Json::array({{{"enum", names}, {"description", "Executor command name (LD_*)"}},
                    {{"type", {"object", "array"}}}})},
      {"allOf", by_command}};
  defs["action_list"] = {{"type", "array"}, {"items", {{"$ref", "#/$defs/action"}}}};
  defs["nested_actions"] = {
      {"oneOf",
       Json::array({{{"$ref", "#/$defs/action_list"}},
                    {{"type", "object"},
                     {"properties", {{"load_density", {{"$ref", "#/$defs/action_list"}}}}},
                     {"required", {"load_density"}},
                     {"additionalProperties", false}}})}};
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"$id", "https://loaddensity.readthedocs.io/schema/action-1.0.json"},
          {"title", "LoadDensity action JSON"},
          {"description", "Schema for LoadDensity action JSON files."},
          {"$ref", "#/$defs/nested_actions"},
          {"$defs", defs}};
}

namespace {

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

void params_table(std::ostringstream& o, const std::vector<Param>& params) {
  if (params.empty()) {
    o << "No arguments.\n\n";
    return;
  }
  o << "| Argument | Type | Default | Description |\n|---|---|---|---|\n";
  for (const Param& p : params) {
    o << "| `" << p.name << "` | "
      << (p.types == action::kAny ? std::string("any") : action::type_mask_name(p.types)) << " | "
      << (p.required ? std::string("required")
                     : p.default_value.is_null() ? std::string()
                                                 : "`" + md_escape(p.default_value.dump()) + "`")
      << " | " << md_escape(p.help) << " |\n";
  }
  o << '\n';
}

}  // namespace

std::string commands_markdown(const action::CommandRegistry& registry,
                              const engine::ProtocolRegistry& protocols) {
  std::ostringstream o;
  o << "# Command reference\n\n"
       "Generated by `loaddensity commands --markdown` from the command registry and the "
       "protocols' task-field declarations; `tests/integration/test_schema.py` fails when this "
       "file is stale. An action is `[\"LD_command\", {keyword arguments}]` or "
       "`[\"LD_command\", [positional arguments]]` (in the order below).\n\n"
       "## Commands\n\n";
  for (const std::string& n : registry.names()) {
    std::string anchor = n;  // GitHub's heading anchors are lower case
    for (char& ch : anchor) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    o << "- [`" << n << "`](#" << anchor << ")\n";
  }
  o << '\n';
  for (const std::string& n : registry.names()) {
    const action::Command* c = registry.find(n);
    o << "### " << n << "\n\n";
    if (!c->summary.empty()) o << c->summary << "\n\n";
    params_table(o, c->params);
  }
  o << "## Task fields by user type\n\n"
       "`LD_start_test`'s `tasks` items; every user type also takes the flow fields "
       "`run_if`, `skip_if`, `think_time`, `throttle` and `retry` (docs/scenarios.md).\n\n";
  for (const std::string& t : protocols.user_types()) {
    o << "### " << t << "\n\n";
    params_table(o, protocols.find(t)->task_fields(t));
  }
  return o.str();
}

}  // namespace ld::tooling
