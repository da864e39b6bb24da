// OpenAPI 3.0/3.1 (and Swagger 2.0) in JSON or YAML: one task per operation, path parameters
// as ${var.NAME} with example values registered, required query and header parameters and a
// request body built from examples or schemas, local $refs followed.
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <set>

#include "core/text.hpp"
#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {

namespace {

// YAML 1.2 core schema for plain scalars; quoted ones stay strings. Keys are always strings.
Json yaml_scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const char* b = s.data();
  const char* e = b + s.size();
  const char* p = b + ((*b == '-' || *b == '+') ? 1 : 0);
  if (p < e && std::all_of(p, e, [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t v = 0;
    auto r = std::from_chars(*b == '+' ? b + 1 : b, e, v);
    if (r.ec == std::errc{} && r.ptr == e) return v;
  }
  bool numeric = p < e && (std::isdigit(static_cast<unsigned char>(*p)) || *p == '.');
  for (const char* c = p; numeric && c < e; ++c) {
    numeric = std::isdigit(static_cast<unsigned char>(*c)) || *c == '.' || *c == 'e' || *c == 'E' ||
              *c == '-' || *c == '+';
  }
  if (numeric) {
    double d = 0;
    auto r = std::from_chars(*b == '+' ? b + 1 : b, e, d);
    if (r.ec == std::errc{} && r.ptr == e && std::isfinite(d)) return d;
  }
  return s;
}

Json yaml_to_json(const YAML::Node& n, std::size_t depth) {
  if (depth > limits::kMaxJsonDepth) {
    throw ConfigError("OpenAPI: nesting deeper than " + std::to_string(limits::kMaxJsonDepth), "");
  }
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return yaml_scalar(n);
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& c : n) a.push_back(yaml_to_json(c, depth + 1));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : n) o[kv.first.Scalar()] = yaml_to_json(kv.second, depth + 1);
      return o;
    }
  }
  return nullptr;
}

const char* const kMethods[] = {"get",     "put",  "post",  "delete",
                                "options", "head", "patch", "trace"};

class Converter {
 public:
  Converter(const Json& spec, Import& imp) : spec_(spec), imp_(imp) {}

  // Follows local "$ref"s (#/components/...); an external one is reported and gives null.
  const Json& deref(const Json& v, const std::string& where, int hops = 0) {
    static const Json kNull;
    if (!v.is_object() || !v.contains("$ref")) return v;
    if (hops > 32) throw ConfigError(where + ": $ref chain longer than 32 (a cycle?)", "");
    const std::string ref = json_display(v["$ref"]);
    if (ref.rfind("#/", 0) != 0) {
      note(where + ": external $ref " + ref + " is not followed");
      return kNull;
    }
    const Json::json_pointer ptr(ref.substr(1));
    if (!spec_.contains(ptr)) {
      throw ConfigError(where + ": $ref " + ref + " points at nothing", "");
    }
    return deref(spec_.at(ptr), where, hops + 1);
  }

  // An example value for a schema: example, default, enum[0], const, then by type.
  Json example(const Json& schema_in, const std::string& where, int depth = 0) {
    const Json& s = deref(schema_in, where);
    if (!s.is_object() || depth > 8) return nullptr;
    if (s.contains("example")) return s["example"];
    if (s.contains("examples") && s["examples"].is_array() && !s["examples"].empty()) {
      return s["examples"][0];  // 3.1 (JSON Schema) examples
    }
    if (s.contains("default")) return s["default"];
    if (s.contains("const")) return s["const"];
    if (s.contains("enum") && s["enum"].is_array() && !s["enum"].empty()) return s["enum"][0];
    for (const char* k : {"oneOf", "anyOf"}) {
      if (s.contains(k) && s[k].is_array() && !s[k].empty())
        return example(s[k][0], where, depth + 1);
    }
    if (s.contains("allOf") && s["allOf"].is_array()) {
      Json merged = Json::object();
      for (const Json& part : s["allOf"]) {
        Json e = example(part, where, depth + 1);
        if (e.is_object()) merged.update(e);
      }
      return merged;
    }
    std::string type;
    if (s.contains("type")) {
      const Json& t = s["type"];  // 3.1: a list such as ["string", "null"]
      if (t.is_string()) {
        type = t.get<std::string>();
      } else if (t.is_array()) {
        for (const Json& x : t) {
          if (x.is_string() && x != "null") type = x.get<std::string>();
        }
      }
    } else if (s.contains("properties")) {
      type = "object";
    } else if (s.contains("items")) {
      type = "array";
    }
    if (type == "object") {
      Json o = Json::object();
      if (s.contains("properties") && s["properties"].is_object()) {
        for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
          const Json& prop = deref(it.value(), where);
          if (prop.is_object() && prop.value("readOnly", false)) continue;
          o[it.key()] = example(prop, where, depth + 1);
        }
      }
      return o;
    }
    if (type == "array") {
      if (!s.contains("items")) return Json::array();
      return Json::array({example(s["items"], where, depth + 1)});
    }
    if (type == "integer") return 1;
    if (type == "number") return 1.5;
    if (type == "boolean") return true;
    if (type == "string") {
      const std::string fmt = s.value("format", "");
      if (fmt == "date-time") return "2024-01-01T00:00:00Z";
      if (fmt == "date") return "2024-01-01";
      if (fmt == "email") return "user@example.com";
      if (fmt == "uuid") return "00000000-0000-4000-8000-000000000000";
      return "string";
    }
    return nullptr;
  }

  Json param_example(const Json& p, const std::string& where) {
    if (p.contains("example")) return p["example"];
    if (p.contains("examples") && p["examples"].is_object() && !p["examples"].empty()) {
      const Json& first = deref(p["examples"].begin().value(), where);
      if (first.is_object() && first.contains("value")) return first["value"];
    }
    if (p.contains("schema")) return example(p["schema"], where);
    if (p.contains("type")) return example(p, where);  // Swagger 2.0 puts the type on it
    return nullptr;
  }

  std::string server(const std::string& base_url) {
    if (!base_url.empty()) return trim_slash(base_url);
    if (spec_.contains("servers") && spec_["servers"].is_array() && !spec_["servers"].empty()) {
      const Json& s = spec_["servers"][0];
      std::string url = s.is_object() && s.contains("url") ? json_display(s["url"]) : "";
      if (s.is_object() && s.contains("variables") && s["variables"].is_object()) {
        for (auto it = s["variables"].begin(); it != s["variables"].end(); ++it) {
          const std::string key = "{" + it.key() + "}";
          const std::string val = it.value().is_object() && it.value().contains("default")
                                      ? json_display(it.value()["default"])
                                      : "";
          for (auto p = url.find(key); p != std::string::npos; p = url.find(key, p + val.size())) {
            url.replace(p, key.size(), val);
          }
        }
      }
      if (url.find("://") == std::string::npos) {
        note("OpenAPI: the server URL '" + url +
             "' is relative: give a base URL (--base-url) or LD_start_test 'host'");
      }
      return trim_slash(url);
    }
    if (spec_.contains("host")) {  // Swagger 2.0
      std::string scheme = "https";
      if (spec_.contains("schemes") && spec_["schemes"].is_array() && !spec_["schemes"].empty()) {
        scheme = json_display(spec_["schemes"][0]);
      }
      return trim_slash(scheme + "://" + json_display(spec_["host"]) +
                        (spec_.contains("basePath") ? json_display(spec_["basePath"]) : ""));
    }
    if (spec_.contains("basePath")) return trim_slash(json_display(spec_["basePath"]));
    note("OpenAPI: the spec names no server: give a base URL (--base-url) or LD_start_test 'host'");
    return "";
  }

  void convert(const std::string& base_url) {
    if (!spec_.is_object()) throw ConfigError("OpenAPI: the document must be an object", "");
    if (!spec_.contains("openapi") && !spec_.contains("swagger")) {
      throw ConfigError("OpenAPI: no \"openapi\" (or \"swagger\") version field", "/openapi");
    }
    if (!spec_.contains("paths") || !spec_["paths"].is_object()) {
      throw ConfigError("OpenAPI: \"paths\" must be an object", "/paths");
    }
    const std::string base = server(base_url);
    const Json& paths = spec_["paths"];
    for (auto pit = paths.begin(); pit != paths.end(); ++pit) {
      const std::string& path = pit.key();
      const std::string pptr = "/paths" + pointer_key(path);
      const Json& item = deref(pit.value(), "OpenAPI path " + path);
      if (!item.is_object()) {
        throw ConfigError("OpenAPI path " + path + ": must be an object", pptr);
      }
      for (const char* m : kMethods) {
        if (!item.contains(m)) continue;
        std::string upper = text::lower(m);
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        operation(item, item[m], m, upper + " " + path, path, pptr + "/" + m, base);
      }
    }
  }

 private:
  static std::string trim_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
  }

  void note(const std::string& w) {
    if (seen_.insert(w).second) imp_.warn(w);
  }

  void operation(const Json& item, const Json& op, const std::string& method,
                 const std::string& label, const std::string& path, const std::string& ptr,
                 const std::string& base) {
    const std::string where = "OpenAPI operation " + label;
    if (!op.is_object()) throw ConfigError(where + ": must be an object", ptr);
    // Path-level parameters, overridden by the operation's own (same name and place).
    std::vector<std::pair<Json, std::string>> params;  // parameter, its pointer
    auto add_params = [&](const Json& list, const std::string& lptr) {
      if (!list.is_array()) throw ConfigError(where + ": parameters must be a list", lptr);
      for (std::size_t i = 0; i < list.size(); ++i) {
        const Json& p = deref(list[i], where);
        const std::string pp = lptr + pointer_index(i);
        if (!p.is_object() || !p.contains("name") || !p["name"].is_string() || !p.contains("in") ||
            !p["in"].is_string()) {
          throw ConfigError(
              where + ": parameter " + std::to_string(i) + " needs a string \"name\" and \"in\"",
              pp);
        }
        bool replaced = false;
        for (auto& [q, qp] : params) {
          if (q["name"] == p["name"] && q["in"] == p["in"]) q = p, qp = pp, replaced = true;
        }
        if (!replaced) params.emplace_back(p, pp);
      }
    };
    if (item.contains("parameters"))
      add_params(item["parameters"], ptr.substr(0, ptr.rfind('/')) + "/parameters");
    if (op.contains("parameters")) add_params(op["parameters"], ptr + "/parameters");

    std::string url_path = path;
    Json task = Json::object();
    Json query = Json::object(), headers = Json::object();
    for (const auto& [p, pp] : params) {
      const std::string name = p["name"].get<std::string>();
      const std::string in = p["in"].get<std::string>();
      if (in == "path") {
        const std::string key = "{" + name + "}";
        if (url_path.find(key) == std::string::npos) {
          throw ConfigError(where + ": path parameter '" + name + "' is not in the path", pp);
        }
        for (auto pos = url_path.find(key); pos != std::string::npos; pos = url_path.find(key)) {
          url_path.replace(pos, key.size(), "${var." + name + "}");
        }
        Json ex = param_example(p, where);
        if (ex.is_null()) {
          ex = name;
          note(where + ": path parameter '" + name + "' has no example or schema; registered '" +
               name + "'");
        }
        if (imp_.variables.contains(name) && imp_.variables[name] != json_display(ex)) {
          note("OpenAPI: path parameter '" + name + "' has different examples; the first (" +
               imp_.variables[name].get<std::string>() + ") is registered");
        } else {
          imp_.variables[name] = json_display(ex);
        }
      } else if (in == "query" || in == "header") {
        if (!p.value("required", false)) continue;  // optional parameters are not sent
        const Json ex = param_example(p, where);
        (in == "query" ? query : headers)[name] = ex.is_null() ? "" : json_display(ex);
      } else if (in == "cookie") {
        if (p.value("required", false)) {
          if (!task.contains("cookies")) task["cookies"] = Json::object();
          task["cookies"][name] = json_display(param_example(p, where));
        }
      } else if (in == "body") {  // Swagger 2.0
        task["json"] = example(p.value("schema", Json::object()), where);
      } else if (in == "formData") {
        if (!task.contains("data")) task["data"] = Json::object();
        task["data"][name] = json_display(param_example(p, where));
      }
    }
    auto left = url_path.find('{');
    while (left != std::string::npos && left > 0 && url_path[left - 1] == '$') {
      left = url_path.find('{', left + 1);
    }
    if (left != std::string::npos) {
      const std::string name = url_path.substr(left + 1, url_path.find('}', left) - left - 1);
      throw ConfigError(where + ": path template {" + name + "} has no path parameter", ptr);
    }
    if (op.contains("requestBody"))
      request_body(deref(op["requestBody"], where), task, headers, where);
    security(op, headers, query, where);

    Json out = {{"name", op.contains("operationId") ? json_display(op["operationId"]) : label},
                {"method", method},
                {"request_url", base + url_path}};
    if (!query.empty()) out["params"] = std::move(query);
    if (!headers.empty()) out["headers"] = std::move(headers);
    out.update(task);
    if (op.contains("responses") && op["responses"].is_object()) {
      const Json& r = op["responses"];
      int status = 0;
      for (const char* k : {"200", "201", "202", "204"}) {
        if (r.contains(k)) {
          status = std::stoi(k);
          break;
        }
      }
      for (auto it = r.begin(); status == 0 && it != r.end(); ++it) {
        int v = 0;
        auto [p, ec] = std::from_chars(it.key().data(), it.key().data() + it.key().size(), v);
        if (ec == std::errc{} && p == it.key().data() + it.key().size() && v >= 200 && v < 300) {
          status = v;
        }
      }
      if (status) out["assertions"] = Json::array({{{"type", "status_code"}, {"value", status}}});
    }
    imp_.tasks.push_back(std::move(out));
  }

  void request_body(const Json& rb, Json& task, Json& headers, const std::string& where) {
    if (!rb.is_object() || !rb.contains("content") || !rb["content"].is_object()) return;
    const Json& content = rb["content"];
    auto media_example = [&](const Json& media) -> Json {
      const Json& m = deref(media, where);
      if (!m.is_object()) return nullptr;
      if (m.contains("example")) return m["example"];
      if (m.contains("examples") && m["examples"].is_object() && !m["examples"].empty()) {
        const Json& first = deref(m["examples"].begin().value(), where);
        if (first.is_object() && first.contains("value")) return first["value"];
      }
      return m.contains("schema") ? example(m["schema"], where) : Json();
    };
    std::string json_type;
    for (auto it = content.begin(); it != content.end(); ++it) {
      const std::string t = text::lower(it.key());
      if (t.find("json") != std::string::npos && json_type.empty()) json_type = it.key();
    }
    if (!json_type.empty()) {
      task["json"] = media_example(content[json_type]);
      if (json_type != "application/json") headers["Content-Type"] = json_type;
      return;
    }
    for (const char* t : {"application/x-www-form-urlencoded", "multipart/form-data"}) {
      if (!content.contains(t)) continue;
      const Json ex = media_example(content[t]);
      Json data = Json::object();
      if (ex.is_object()) {
        for (auto it = ex.begin(); it != ex.end(); ++it) data[it.key()] = json_display(it.value());
      }
      task["data"] = std::move(data);
      if (std::string(t) == "multipart/form-data") {
        note(where + ": the multipart body is sent url-encoded (files are not generated)");
      }
      return;
    }
    for (auto it = content.begin(); it != content.end(); ++it) {
      if (it.key().rfind("text/", 0) == 0) {
        const Json ex = media_example(it.value());
        task["data"] = ex.is_string() ? ex.get<std::string>() : "";
        headers["Content-Type"] = it.key();
        return;
      }
    }
    note(where + ": request body type '" + content.begin().key() +
         "' is not generated; sent empty");
  }

  void security(const Json& op, Json& headers, Json& query, const std::string& where) {
    const Json* sec = op.contains("security")      ? &op["security"]
                      : spec_.contains("security") ? &spec_["security"]
                                                   : nullptr;
    if (!sec || !sec->is_array() || sec->empty() || !(*sec)[0].is_object()) return;
    const Json* schemes = nullptr;
    if (spec_.contains("components") && spec_["components"].contains("securitySchemes")) {
      schemes = &spec_["components"]["securitySchemes"];
    } else if (spec_.contains("securityDefinitions")) {
      schemes = &spec_["securityDefinitions"];
    }
    // The first requirement that can be met with a header or query value; else a warning.
    for (const Json& req : *sec) {
      if (!req.is_object()) continue;
      bool ok = !req.empty();
      for (auto it = req.begin(); ok && it != req.end(); ++it) {
        const Json& s =
            schemes && schemes->contains(it.key()) ? deref((*schemes)[it.key()], where) : Json();
        const std::string type = s.is_object() ? s.value("type", "") : "";
        const std::string scheme = s.is_object() ? text::lower(s.value("scheme", "")) : "";
        ok =
            (type == "apiKey" && (s.value("in", "") == "header" || s.value("in", "") == "query")) ||
            (type == "http" && (scheme == "bearer" || scheme == "basic")) || type == "basic";
      }
      if (!ok) continue;
      for (auto it = req.begin(); it != req.end(); ++it) {
        const Json& s = deref((*schemes)[it.key()], where);
        const std::string type = s.value("type", "");
        const std::string var = it.key();
        if (!imp_.variables.contains(var)) imp_.variables[var] = "";
        note("OpenAPI: security scheme '" + var + "' needs a value: register the variable '" + var +
             "'");
        if (type == "apiKey") {
          (s.value("in", "") == "header" ? headers : query)[s.value("name", var)] =
              "${var." + var + "}";
        } else if (text::lower(s.value("scheme", "")) == "bearer") {
          headers["Authorization"] = "Bearer ${var." + var + "}";
        } else {
          headers["Authorization"] = "Basic ${var." + var + "}";
        }
      }
      return;
    }
    std::string names;
    for (const Json& req : *sec) {
      if (!req.is_object()) continue;
      for (auto it = req.begin(); it != req.end(); ++it)
        names += (names.empty() ? "" : ", ") + it.key();
    }
    note("OpenAPI: security (" + names +
         ") has no header or query form; not converted: add "
         "the credentials to the tasks yourself");
  }

  const Json& spec_;
  Import& imp_;
  std::set<std::string> seen_;
};

}  // namespace

Json parse_openapi_text(std::string_view text, const std::string& source) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i < text.size() && text[i] == '{') return parse_json_text(text, source);
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return yaml_to_json(root, 0);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                          std::to_string(e.mark.column + 1) + ": YAML: " + e.msg,
                      "");
  }
}

Json load_openapi(const std::string& path) {
  return parse_openapi_text(read_text(path, "OpenAPI file"), path);
}

Import openapi_to_tasks(const Json& spec, const std::string& base_url) {
  Import imp;
  Converter(spec, imp).convert(base_url);
  return imp;
}

}  // namespace ld::importers
