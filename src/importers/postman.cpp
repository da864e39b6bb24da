// Postman collections v2.0/v2.1: folders walked in order, auth inherited from the collection
// and folders, {{var}} turned into ${var.NAME} with the collection's variables registered,
// status checks of test scripts turned into assertions.
#include <algorithm>
#include <regex>

#include "core/text.hpp"
#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {

namespace {

struct Walker {
  Import& imp;

  std::string tmpl(const std::string& s, const std::string& where) {
    std::vector<std::string> unknown;
    std::string out = detail::postman_template(s, &unknown);
    for (const auto& u : unknown) {
      imp.warn(where + ": Postman dynamic variable {{" + u + "}} has no equivalent; kept as text");
    }
    return out;
  }

  // v2.1 auth: {"type": "bearer", "bearer": [{"key": "token", "value": "..."}]}; v2.0 used an
  // object instead of the list.
  static std::string auth_value(const Json& auth, const std::string& type, const std::string& key) {
    if (!auth.contains(type)) return "";
    const Json& v = auth[type];
    if (v.is_array()) {
      for (const Json& kv : v) {
        if (kv.is_object() && kv.value("key", "") == key && kv.contains("value")) {
          return json_display(kv["value"]);
        }
      }
    } else if (v.is_object() && v.contains(key)) {
      return json_display(v[key]);
    }
    return "";
  }

  void apply_auth(const Json& auth, Json& task, Json& headers, const std::string& where) {
    if (!auth.is_object()) return;
    const std::string type = auth.value("type", "");
    if (type == "noauth" || type.empty()) return;
    if (type == "bearer") {
      headers["Authorization"] = "Bearer " + tmpl(auth_value(auth, "bearer", "token"), where);
    } else if (type == "basic") {
      task["auth"] = {{"type", "basic"},
                      {"username", tmpl(auth_value(auth, "basic", "username"), where)},
                      {"password", tmpl(auth_value(auth, "basic", "password"), where)}};
    } else if (type == "apikey") {
      const std::string key = tmpl(auth_value(auth, "apikey", "key"), where);
      const std::string value = tmpl(auth_value(auth, "apikey", "value"), where);
      if (auth_value(auth, "apikey", "in") == "query") {
        if (!task.contains("params")) task["params"] = Json::object();
        task["params"][key] = value;
      } else {
        headers[key] = value;
      }
    } else {
      imp.warn(where + ": Postman auth type '" + type + "' is not converted");
    }
  }

  std::string url_of(const Json& url, const std::string& where, Json& task) {
    if (url.is_string()) return url.get<std::string>();
    if (!url.is_object()) return "";
    if (url.contains("raw") && url["raw"].is_string() && !url["raw"].get<std::string>().empty()) {
      return url["raw"].get<std::string>();
    }
    std::string out;
    if (url.contains("protocol")) out = json_display(url["protocol"]) + "://";
    if (url.contains("host")) {
      const Json& h = url["host"];
      if (h.is_array()) {
        for (std::size_t i = 0; i < h.size(); ++i) out += (i ? "." : "") + json_display(h[i]);
      } else {
        out += json_display(h);
      }
    }
    if (url.contains("port")) out += ":" + json_display(url["port"]);
    if (url.contains("path")) {
      const Json& p = url["path"];
      if (p.is_array()) {
        for (const Json& seg : p) {
          out += "/" +
                 (seg.is_object() ? json_display(seg.value("value", Json(""))) : json_display(seg));
        }
      } else {
        const std::string s = json_display(p);
        out += (s.rfind('/', 0) == 0 ? "" : "/") + s;
      }
    }
    if (url.contains("query") && url["query"].is_array()) {
      Json params = Json::object();
      for (const Json& q : url["query"]) {
        if (!q.is_object() || q.value("disabled", false) || !q.contains("key")) continue;
        params[tmpl(json_display(q["key"]), where)] = q.contains("value") && !q["value"].is_null()
                                                          ? tmpl(json_display(q["value"]), where)
                                                          : "";
      }
      if (!params.empty()) task["params"] = std::move(params);
    }
    return out;
  }

  // pm.response.to.have.status(200), pm.expect(pm.response.code).to.eql(200) and the old
  // tests["..."] = responseCode.code === 200; the rest of a script is reported.
  void scripts(const Json& events, Json& task, const std::string& where) {
    if (!events.is_array()) return;
    static const std::regex kStatus(
        R"(to\.have\.status\(\s*(\d{3})\s*\)|(?:response\.code|responseCode\.code|response\.status)\)?\s*(?:\.to\.(?:eql|equal|be\.equal|eq)\(|===?)\s*(\d{3}))");
    static const std::regex kContains(
        R"(pm\.expect\(pm\.response\.text\(\)\)\.to\.include\(\s*(['"])((?:(?!\1).)*)\1\s*\))");
    for (const Json& ev : events) {
      if (!ev.is_object()) continue;
      const std::string listen = ev.value("listen", "");
      std::string code;
      if (ev.contains("script") && ev["script"].is_object() && ev["script"].contains("exec")) {
        const Json& ex = ev["script"]["exec"];
        if (ex.is_array()) {
          for (const Json& line : ex) code += json_display(line) + "\n";
        } else {
          code = json_display(ex);
        }
      }
      if (code.find_first_not_of(" \t\r\n") == std::string::npos) continue;
      if (listen != "test") {
        imp.warn(where + ": the " + (listen.empty() ? "event" : listen) +
                 " script is not converted (scripts are never run)");
        continue;
      }
      int converted = 0;
      Json assertions = task.value("assertions", Json::array());
      for (std::sregex_iterator it(code.begin(), code.end(), kStatus), end; it != end; ++it) {
        const std::string n = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
        assertions.push_back({{"type", "status_code"}, {"value", std::stoi(n)}});
        ++converted;
      }
      for (std::sregex_iterator it(code.begin(), code.end(), kContains), end; it != end; ++it) {
        assertions.push_back({{"type", "contains"}, {"value", (*it)[2].str()}});
        ++converted;
      }
      if (!assertions.empty()) task["assertions"] = std::move(assertions);
      // Each pm.test(...) (or tests[...]) without a converted check is reported by its title,
      // and so is code before the first test (variables set from the response, ...).
      std::vector<std::size_t> starts;
      for (const char* m : {"pm.test(", "tests["}) {
        for (auto p = code.find(m); p != std::string::npos; p = code.find(m, p + 1)) {
          starts.push_back(p);
        }
      }
      std::sort(starts.begin(), starts.end());
      if (starts.empty()) {
        if (converted == 0) imp.warn(where + ": the test script has no status check to convert");
        continue;
      }
      if (code.substr(0, starts[0]).find_first_not_of(" \t\r\n;") != std::string::npos) {
        imp.warn(where + ": test script statements outside pm.test are not converted");
      }
      for (std::size_t k = 0; k < starts.size(); ++k) {
        const std::size_t end = k + 1 < starts.size() ? starts[k + 1] : code.size();
        const std::string seg = code.substr(starts[k], end - starts[k]);
        if (std::regex_search(seg, kStatus) || std::regex_search(seg, kContains)) continue;
        const std::string head = seg.substr(0, seg.find_first_of(",]\n"));
        imp.warn(where + ": test " + head + " is not converted");
      }
    }
  }

  void item(const Json& it, const std::string& path, const std::string& ptr,
            const Json& inherited_auth) {
    if (!it.is_object()) {
      throw ConfigError("Postman item '" + path + "': must be an object, got " + json_type_name(it),
                        ptr);
    }
    const Json auth = it.contains("auth") && it["auth"].is_object() ? it["auth"] : inherited_auth;
    if (it.contains("item")) {
      if (!it["item"].is_array()) {
        throw ConfigError("Postman item '" + path + "': \"item\" must be a list", ptr + "/item");
      }
      if (it.contains("event")) scripts_of_folder(it["event"], path);
      for (std::size_t i = 0; i < it["item"].size(); ++i) {
        const Json& child = it["item"][i];
        const std::string name = child.is_object() && child.contains("name")
                                     ? json_display(child["name"])
                                     : "#" + std::to_string(i);
        item(child, path.empty() ? name : path + "/" + name, ptr + "/item" + pointer_index(i),
             auth);
      }
      return;
    }
    if (!it.contains("request")) {
      imp.warn("Postman item '" + path + "': no request; skipped");
      return;
    }
    const Json& req = it["request"];
    Json task = Json::object();
    Json headers = Json::object();
    std::string method = "get", url;
    if (req.is_string()) {
      url = req.get<std::string>();  // v2.0 short form: a URL
    } else if (req.is_object()) {
      if (req.contains("method")) {
        if (!req["method"].is_string()) {
          throw ConfigError("Postman item '" + path + "': request.method must be a string",
                            ptr + "/request/method");
        }
        method = text::lower(req["method"].get<std::string>());
      }
      if (!req.contains("url")) {
        throw ConfigError("Postman item '" + path + "': the request has no url",
                          ptr + "/request/url");
      }
      if (!req["url"].is_string() && !req["url"].is_object()) {
        throw ConfigError("Postman item '" + path + "': request.url must be a string or object",
                          ptr + "/request/url");
      }
      url = url_of(req["url"], "Postman item '" + path + "'", task);
    } else {
      throw ConfigError("Postman item '" + path + "': request must be an object or a URL",
                        ptr + "/request");
    }
    const std::string where = "Postman item '" + path + "'";
    if (url.empty()) {
      imp.warn(where + ": empty URL; skipped");
      return;
    }
    url = tmpl(url, where);
    Json base = {{"name", it.contains("name") ? json_display(it["name"]) : url},
                 {"method", method},
                 {"request_url", url}};
    base.update(task);  // params from the URL's query list
    task = std::move(base);
    if (req.is_object()) {
      if (req.contains("header") && req["header"].is_array()) {
        for (const Json& h : req["header"]) {
          if (!h.is_object() || h.value("disabled", false)) continue;
          const std::string key = h.contains("key")    ? json_display(h["key"])
                                  : h.contains("name") ? json_display(h["name"])
                                                       : "";
          if (key.empty()) continue;
          headers[tmpl(key, where)] =
              tmpl(h.contains("value") ? json_display(h["value"]) : "", where);
        }
      }
      const Json& req_auth = req.contains("auth") && req["auth"].is_object() ? req["auth"] : auth;
      apply_auth(req_auth, task, headers, where);
      if (req.contains("body") && req["body"].is_object()) body(req["body"], task, where);
    } else {
      apply_auth(auth, task, headers, where);
    }
    if (!headers.empty()) task["headers"] = std::move(headers);
    if (it.contains("event")) scripts(it["event"], task, where);
    imp.tasks.push_back(std::move(task));
  }

  void scripts_of_folder(const Json& events, const std::string& path) {
    if (!events.is_array()) return;
    for (const Json& ev : events) {
      if (ev.is_object() && ev.contains("script")) {
        imp.warn("Postman folder '" + path + "': its " + ev.value("listen", "event") +
                 " script is not converted");
      }
    }
  }

  void body(const Json& b, Json& task, const std::string& where) {
    if (b.value("disabled", false)) return;
    const std::string mode = b.value("mode", "");
    if (mode == "raw") {
      const std::string raw = tmpl(b.contains("raw") ? json_display(b["raw"]) : "", where);
      bool is_json = false;
      if (b.contains("options") && b["options"].is_object() && b["options"].contains("raw") &&
          b["options"]["raw"].is_object()) {
        is_json = b["options"]["raw"].value("language", "") == "json";
      }
      detail::set_text_body(task, raw, is_json);
    } else if (mode == "urlencoded" || mode == "formdata") {
      Json data = Json::object();
      Json files = Json::object();
      if (b.contains(mode) && b[mode].is_array()) {
        for (const Json& kv : b[mode]) {
          if (!kv.is_object() || kv.value("disabled", false) || !kv.contains("key")) continue;
          const std::string key = tmpl(json_display(kv["key"]), where);
          if (kv.value("type", "") == "file") {
            if (kv.contains("src") && kv["src"].is_string() &&
                !kv["src"].get<std::string>().empty()) {
              files[key] = kv["src"];
            } else {
              imp.warn(where + ": form file field '" + key + "' names no file; left out");
            }
            continue;
          }
          data[key] = tmpl(kv.contains("value") ? json_display(kv["value"]) : "", where);
        }
      }
      if (!files.empty()) task["files"] = std::move(files);
      if (!data.empty()) task["data"] = std::move(data);
    } else if (mode == "graphql" && b.contains("graphql") && b["graphql"].is_object()) {
      const Json& g = b["graphql"];
      Json body = {{"query", tmpl(json_display(g.value("query", Json(""))), where)}};
      if (g.contains("variables")) {
        const std::string vars = tmpl(json_display(g["variables"]), where);
        Json parsed = Json::parse(vars, nullptr, false);
        body["variables"] = parsed.is_discarded() ? Json(vars) : parsed;
      }
      task["json"] = std::move(body);
    } else if (!mode.empty()) {
      imp.warn(where + ": body mode '" + mode + "' is not converted");
    }
  }
};

}  // namespace

Json load_postman(const std::string& path) {
  return parse_json_text(read_text(path, "Postman collection"), path);
}

Import postman_to_tasks(const Json& collection) {
  if (!collection.is_object() || !collection.contains("item")) {
    throw ConfigError("Postman: a collection is an object with an \"item\" list", "/item");
  }
  Import imp;
  if (collection.contains("info") && collection["info"].is_object()) {
    const std::string schema = collection["info"].value("schema", "");
    if (!schema.empty() && schema.find("v2.1") == std::string::npos &&
        schema.find("v2.0") == std::string::npos) {
      imp.warn("Postman: schema " + schema + " is not v2.0 or v2.1; read as v2.1");
    }
  }
  if (collection.contains("variable")) {
    const Json& vars = collection["variable"];
    if (!vars.is_array()) throw ConfigError("Postman: \"variable\" must be a list", "/variable");
    for (std::size_t i = 0; i < vars.size(); ++i) {
      const Json& v = vars[i];
      if (!v.is_object() || !(v.contains("key") || v.contains("id"))) {
        throw ConfigError("Postman: variable " + std::to_string(i) + " has no key",
                          "/variable" + pointer_index(i));
      }
      if (v.value("disabled", false)) continue;
      const std::string key = json_display(v.contains("key") ? v["key"] : v["id"]);
      imp.variables[key] =
          v.contains("value") && !v["value"].is_null() ? json_display(v["value"]) : "";
    }
  }
  Walker w{imp};
  const Json auth = collection.contains("auth") ? collection["auth"] : Json();
  if (collection.contains("event")) w.scripts_of_folder(collection["event"], "(collection)");
  Json root = {{"item", collection["item"]}};
  w.item(root, "", "", auth);
  // Every {{name}} the requests use should resolve: report the ones the collection leaves to an
  // environment.
  const std::string all = imp.tasks.dump();
  std::vector<std::string> missing;
  for (auto p = all.find("${var."); p != std::string::npos; p = all.find("${var.", p + 1)) {
    const auto e = all.find('}', p);
    const std::string name = all.substr(p + 6, e - p - 6);
    if (!imp.variables.contains(name) &&
        std::find(missing.begin(), missing.end(), name) == missing.end()) {
      missing.push_back(name);
    }
  }
  for (const auto& m : missing) {
    imp.warn("Postman: {{" + m +
             "}} is not a collection variable (an environment's?); "
             "register it before the test");
  }
  return imp;
}

}  // namespace ld::importers
