// `loaddensity mcp`: a Model Context Protocol server over stdio (JSON-RPC 2.0, one message per
// line). The tools are the original's eleven, plus lint and one per importer command of this
// build; each call runs as a small action document in one session, so a summary read after a
// run_test call sees that run. Input schemas are generated from the command registry.
#include <istream>
#include <ostream>
#include <regex>

#include "loaddensity/core/error.hpp"
#include "tooling/host.hpp"
#include "tooling/schema.hpp"

namespace ld::tooling {

namespace {

constexpr const char* kPrefix = "load_density.";
const char* const kProtocolVersions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};

struct Tool {
  std::string name, description;
  Json schema;
  std::function<Json(const Json& args)> call;  // throws on failure
};

// An object schema whose properties are some of a command's parameters.
Json schema_from(const action::Command& c, const std::vector<std::string>& names,
                 const std::vector<std::string>& required) {
  Json props = Json::object();
  for (const auto& n : names) {
    for (const auto& p : c.params) {
      if (p.name == n) {
        Json s = param_schema(p);
        if (!p.required) {
          // Tool clients send what they mean; null is not offered.
          if (s.contains("type") && s["type"].is_array()) {
            Json t = Json::array();
            for (const auto& x : s["type"]) {
              if (x != "null") t.push_back(x);
            }
            s["type"] = t.size() == 1 ? t[0] : t;
          }
        }
        props[n] = s;
      }
    }
  }
  Json s = {{"type", "object"}, {"properties", props}};
  if (!required.empty()) s["required"] = required;
  return s;
}

class McpServer {
 public:
  McpServer(const Host& host, std::ostream& out) : host_(host), out_(out) { build_tools(); }

  void handle(const Json& msg) {
    const std::string method = msg.value("method", "");
    if (!msg.contains("id")) return;  // notifications (initialized, cancelled) need no answer
    const Json id = msg["id"];
    const Json params = msg.contains("params") && msg["params"].is_object() ? msg["params"]
                                                                            : Json::object();
    try {
      if (method == "initialize") {
        std::string version = kProtocolVersions[0];
        const std::string asked = params.value("protocolVersion", "");
        for (const char* v : kProtocolVersions) {
          if (asked == v) version = v;
        }
        send(rpc_result(id, {{"protocolVersion", version},
                             {"capabilities", {{"tools", {{"listChanged", false}}}}},
                             {"serverInfo", {{"name", "loaddensity"}, {"version", host_.version}}},
                             {"instructions",
                              "Run LoadDensity action documents and load tests; read summaries "
                              "and stored runs; lint documents; import traffic."}}));
      } else if (method == "ping") {
        send(rpc_result(id, Json::object()));
      } else if (method == "tools/list") {
        Json list = Json::array();
        for (const Tool& t : tools_) {
          list.push_back({{"name", t.name}, {"description", t.description}, {"inputSchema", t.schema}});
        }
        send(rpc_result(id, {{"tools", list}}));
      } else if (method == "tools/call") {
        send(rpc_result(id, call(params)));
      } else {
        send(rpc_error(id, -32601, "unknown method: " + method));
      }
    } catch (const std::exception& e) {
      send(rpc_error(id, -32603, e.what()));
    }
  }

 private:
  void send(const Json& m) { write_line_message(out_, m); }

  Json call(const Json& params) {
    const std::string name = params.value("name", "");
    const Json args = params.contains("arguments") && params["arguments"].is_object()
                          ? params["arguments"]
                          : Json::object();
    for (const Tool& t : tools_) {
      if (t.name != name) continue;
      try {
        const Json result = t.call(args);
        return {{"content", Json::array({{{"type", "text"}, {"text", result.dump(2)}}})},
                {"isError", false}};
      } catch (const std::exception& e) {
        return {{"content", Json::array({{{"type", "text"}, {"text", e.what()}}})},
                {"isError", true}};
      }
    }
    throw std::runtime_error("unknown tool: " + name);
  }

  // Runs actions as one document; throws with the first failure's message.
  Json run(Json actions, const std::string& source) {
    const action::Document doc = action::parse_document_json(std::move(actions), source);
    action::ExecutionReport rep = host_.execute(doc);
    for (const Json& r : rep.results) {
      if (!r.value("ok", false)) {
        throw std::runtime_error(r.value("command", std::string()) + ": " +
                                 r.value("error", std::string("failed")));
      }
    }
    return rep.results;
  }
  // One command; its result.
  Json run_one(const std::string& command, Json args) {
    Json results = run(Json::array({Json::array({command, std::move(args)})}), "mcp");
    return results.empty() ? Json() : results[0]["result"];
  }
  // The arguments given, restricted to those the command declares (null dropped).
  static Json pick(const Json& args, const action::Command& c) {
    Json out = Json::object();
    for (const auto& p : c.params) {
      if (args.contains(p.name) && !args[p.name].is_null()) out[p.name] = args[p.name];
    }
    return out;
  }

  const action::Command& command(const std::string& n) const {
    const action::Command* c = host_.registry.find(n);
    if (!c) throw std::logic_error("command not registered: " + n);
    return *c;
  }

  void add(std::string name, std::string description, Json schema,
           std::function<Json(const Json&)> fn) {
    tools_.push_back(Tool{kPrefix + name, std::move(description), std::move(schema), std::move(fn)});
  }

  void build_tools() {
    const action::Command& start = command("LD_start_test");
    add("run_test", "Run a load test (LD_start_test) and return its outcome: requests, failures, stop reason.",
        schema_from(start,
                    {"user_detail_dict", "user_count", "spawn_rate", "test_time", "tasks",
                     "variables", "csv_sources", "runner_mode", "web_ui_dict"},
                    {"user_detail_dict"}),
        [this](const Json& a) { return run_one("LD_start_test", pick(a, command("LD_start_test"))); });
    add("run_action_json",
        "Run an action document (a JSON string, a list of actions or {\"load_density\": [...]}) "
        "and return each action's result.",
        {{"type", "object"},
         {"properties",
          {{"actions",
            {{"type", {"string", "array", "object"}},
             {"description", "[[\"LD_command\", {arguments}], ...]"}}}}},
         {"required", {"actions"}}},
        [this](const Json& a) {
          Json actions = a.at("actions");
          if (actions.is_string()) actions = parse_json_text(actions.get<std::string>(), "actions");
          return run(std::move(actions), "actions");
        });
    add("create_project", "Scaffold a project (LoadDensity/keyword/*.json) at a path.",
        {{"type", "object"},
         {"properties", {{"path", {{"type", "string"}, {"description", "where to create LoadDensity/"}}}}},
         {"required", {"path"}}},
        [this](const Json& a) -> Json {
          const std::string written = host_.create_project(a.at("path").get<std::string>());
          return {{"written", written}};
        });
    add("list_executor_commands", "List every LD_* command of this build, sorted.",
        {{"type", "object"}, {"properties", Json::object()}},
        [this](const Json&) -> Json { return host_.registry.names(); });
    if (const action::Command* har = host_.registry.find("LD_har_to_action_json")) {
      // The original's tool takes `file_path`; the command takes the HAR (or its file) as `har`.
      Json schema = schema_from(*har,
                                {"user", "user_count", "spawn_rate", "test_time", "include",
                                 "exclude"},
                                {});
      schema["properties"]["file_path"] = {{"type", "string"},
                                           {"description", "the HAR file to convert"}};
      schema["required"] = {"file_path"};
      add("import_har", "Convert a HAR recording into an action document.", std::move(schema),
          [this](const Json& a) {
            Json args = pick(a, command("LD_har_to_action_json"));
            args["har"] = a.at("file_path");
            return run_one("LD_har_to_action_json", std::move(args));
          });
    }
    add("generate_reports",
        "Write reports of the results so far: html, json, xml, csv, junit (<base>-junit) and "
        "summary (<base>-summary).",
        {{"type", "object"},
         {"properties",
          {{"base_name", {{"type", "string"}, {"default", "loaddensity"}}},
           {"formats",
            {{"type", "array"},
             {"items", {{"enum", {"html", "json", "xml", "csv", "junit", "summary"}}}},
             {"default", {"html", "json", "xml", "csv", "junit", "summary"}}}}}}},
        [this](const Json& a) {
          const std::string base = a.value("base_name", std::string("loaddensity"));
          const Json formats = a.contains("formats") ? a["formats"]
                                                      : Json{"html", "json", "xml", "csv", "junit", "summary"};
          Json actions = Json::array();
          for (const Json& f : formats) {
            const std::string n = f.is_string() ? f.get<std::string>() : "";
            if (n == "html") actions.push_back({"LD_generate_html_report", {{"html_name", base}}});
            else if (n == "json") actions.push_back({"LD_generate_json_report", {{"json_file_name", base}}});
            else if (n == "xml") actions.push_back({"LD_generate_xml_report", {{"xml_file_name", base}}});
            else if (n == "csv") actions.push_back({"LD_generate_csv_report", {{"csv_name", base}}});
            else if (n == "junit") actions.push_back({"LD_generate_junit_report", {{"report_name", base + "-junit"}}});
            else if (n == "summary") actions.push_back({"LD_generate_summary_report", {{"report_name", base + "-summary"}}});
            else throw ConfigError("unknown report format " + f.dump() + " (html, json, xml, csv, junit, summary)");
          }
          Json out = Json::object();
          const Json results = run(actions, "generate_reports");
          for (std::size_t i = 0; i < results.size(); ++i) out[formats[i].get<std::string>()] = results[i]["result"];
          return out;
        });
    add("summary", "The summary of every test since the last clear: totals, latency, per name.",
        {{"type", "object"}, {"properties", Json::object()}},
        [this](const Json&) { return run_one("LD_summary", Json::object()); });
    add("persist_records", "Store the results as a new run in a SQLite file; returns {run_id}.",
        schema_from(command("LD_persist_records"), {"database_path", "label", "metadata"}, {"database_path"}),
        [this](const Json& a) -> Json {
          const Json id = run_one("LD_persist_records", pick(a, command("LD_persist_records")));
          return id.is_object() ? id : Json{{"run_id", id}};
        });
    add("list_runs", "List the runs stored in a SQLite file, newest first.",
        schema_from(command("LD_list_runs"), {"database_path", "limit"}, {"database_path"}),
        [this](const Json& a) { return run_one("LD_list_runs", pick(a, command("LD_list_runs"))); });
    add("fetch_run", "Return the stored requests of one run.",
        schema_from(command("LD_fetch_run_records"), {"database_path", "run_id"}, {"database_path", "run_id"}),
        [this](const Json& a) {
          return run_one("LD_fetch_run_records", pick(a, command("LD_fetch_run_records")));
        });
    add("clear_records", "Forget every result recorded so far.",
        {{"type", "object"}, {"properties", Json::object()}},
        [this](const Json&) { return run_one("LD_clear_records", Json::object()); });
    add("lint",
        "Check an action document without running it: every check a run makes first, plus "
        "warnings. Give `actions` (text or JSON) or `file_path`.",
        {{"type", "object"},
         {"properties",
          {{"actions", {{"type", {"string", "array", "object"}}}},
           {"file_path", {{"type", "string"}}}}}},
        [this](const Json& a) -> Json {
          std::vector<Finding> findings;
          if (a.contains("file_path")) {
            findings = lint_file(host_.lint_context(), a["file_path"].get<std::string>());
          } else if (a.contains("actions")) {
            const Json& v = a["actions"];
            findings = lint_text(host_.lint_context(), v.is_string() ? v.get<std::string>() : v.dump(2),
                                 "<actions>");
          } else {
            throw ConfigError("give `actions` or `file_path`");
          }
          Json list = Json::array();
          for (const auto& f : findings) list.push_back(finding_json(f));
          return {{"errors", count_errors(findings)}, {"findings", list}};
        });
    // One tool per importer command of this build (LD_load_*, LD_*_to_tasks,
    // LD_*_to_action_json, LD_curl_to_task).
    static const std::regex importer("^LD_(load_.+|.+_to_(tasks|task|action_json))$");
    for (const std::string& n : host_.registry.names()) {
      if (!std::regex_match(n, importer) || n == "LD_load_plugin") continue;  // no code loading
      const action::Command& c = command(n);
      Json schema = arguments_schema(c)["oneOf"][0];
      schema.erase("description");
      schema.erase("additionalProperties");
      add(n.substr(3), c.summary, schema, [this, n](const Json& a) { return run_one(n, pick(a, command(n))); });
    }
  }

  const Host& host_;
  std::ostream& out_;
  std::vector<Tool> tools_;
};

}  // namespace

int run_mcp(const Host& host, std::istream& in, std::ostream& out) {
  McpServer server(host, out);
  std::string body;
  while (read_line_message(in, body)) {
    Json msg;
    try {
      msg = Json::parse(body);
    } catch (const std::exception& e) {
      write_line_message(out, rpc_error(nullptr, -32700, std::string("parse error: ") + e.what()));
      continue;
    }
    if (msg.is_array()) {  // a batch (2025-03-26)
      for (const Json& m : msg) {
        if (m.is_object()) server.handle(m);
      }
    } else if (msg.is_object()) {
      server.handle(msg);
    }
  }
  return 0;
}

}  // namespace ld::tooling
