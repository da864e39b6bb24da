// HAR 1.2 (a browser's recording): one task per entry, in order.
#include <regex>

#include "core/text.hpp"
#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {

namespace {

// Headers the client sets itself (or HTTP/2 pseudo-headers): recorded values would be wrong.
bool dropped_header(const std::string& name) {
  static const char* const kDrop[] = {"host",    "content-length",    "connection", "keep-alive",
                                      "upgrade", "transfer-encoding", "te"};
  if (!name.empty() && name[0] == ':') return true;
  const std::string n = text::lower(name);
  for (const char* d : kDrop) {
    if (n == d) return true;
  }
  return false;
}

std::vector<std::regex> compile(const std::vector<std::string>& patterns, const char* field) {
  std::vector<std::regex> out;
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    try {
      out.emplace_back(patterns[i], std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw ConfigError(
          std::string(field) + ": bad regular expression '" + patterns[i] + "': " + e.what(),
          "/" + std::string(field) + pointer_index(i));
    }
  }
  return out;
}

bool any_match(const std::vector<std::regex>& res, const std::string& s) {
  for (const auto& re : res) {
    if (std::regex_search(s, re)) return true;
  }
  return false;
}

}  // namespace

Json load_har(const std::string& path) {
  return parse_json_text(read_text(path, "HAR file"), path);
}

Import har_to_tasks(const Json& har, const std::vector<std::string>& include,
                    const std::vector<std::string>& exclude) {
  const auto inc = compile(include, "include");
  const auto exc = compile(exclude, "exclude");
  if (!har.is_object() || !har.contains("log") || !har["log"].is_object()) {
    throw ConfigError("HAR: the document has no \"log\" object", "/log");
  }
  const Json& log = har["log"];
  if (!log.contains("entries") || !log["entries"].is_array()) {
    throw ConfigError("HAR: log.entries must be a list", "/log/entries");
  }
  Import imp;
  const Json& entries = log["entries"];
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string ptr = "/log/entries" + pointer_index(i);
    const std::string where = "HAR entry " + std::to_string(i);
    const Json& e = entries[i];
    auto fail = [&](const std::string& what, const std::string& sub) {
      throw ConfigError(where + ": " + what, ptr + sub);
    };
    if (!e.is_object()) fail("must be an object, got " + std::string(json_type_name(e)), "");
    if (!e.contains("request") || !e["request"].is_object()) {
      fail("has no \"request\" object", "/request");
    }
    const Json& req = e["request"];
    for (const char* key : {"method", "url"}) {
      if (req.contains(key) && !req[key].is_string()) {
        fail(std::string("request.") + key + " must be a string", std::string("/request/") + key);
      }
    }
    const std::string method = req.value("method", "");
    const std::string url = req.value("url", "");
    if (method.empty() || url.empty()) {
      imp.warn(where + ": no method or URL; skipped");
      continue;
    }
    if (!inc.empty() && !any_match(inc, url)) continue;
    if (any_match(exc, url)) continue;
    const std::string scheme = text::lower(url.substr(0, url.find(':')));
    if (scheme != "http" && scheme != "https") {
      imp.warn(where + ": " + scheme + " URL " + json_brief(url, 60) + " is not HTTP; skipped");
      continue;
    }
    Json task = {{"name", detail::default_name(method, url)},
                 {"method", text::lower(method)},
                 {"request_url", url}};
    if (req.contains("headers")) {
      if (!req["headers"].is_array()) fail("request.headers must be a list", "/request/headers");
      Json headers = Json::object();
      for (std::size_t h = 0; h < req["headers"].size(); ++h) {
        const Json& hd = req["headers"][h];
        if (!hd.is_object() || !hd.contains("name") || !hd["name"].is_string()) {
          fail("request.headers[" + std::to_string(h) + "] needs a string \"name\"",
               "/request/headers" + pointer_index(h));
        }
        const std::string name = hd["name"].get<std::string>();
        if (dropped_header(name)) continue;
        const std::string value = hd.contains("value") ? json_display(hd["value"]) : "";
        if (headers.contains(name)) {  // repeated (HTTP/2 splits cookies): one line again
          headers[name] = headers[name].get<std::string>() +
                          (text::iequals(name, "cookie") ? "; " : ", ") + value;
        } else {
          headers[name] = value;
        }
      }
      if (!headers.empty()) task["headers"] = std::move(headers);
    }
    if (req.contains("postData")) {
      const Json& pd = req["postData"];
      if (!pd.is_object()) fail("request.postData must be an object", "/request/postData");
      const std::string mime = pd.contains("mimeType") ? json_display(pd["mimeType"]) : "";
      const std::string body = pd.contains("text") ? json_display(pd["text"]) : "";
      if (mime.find("application/json") != std::string::npos && !body.empty()) {
        detail::set_text_body(task, body, true);
      } else if (pd.contains("params") && pd["params"].is_array() && !pd["params"].empty()) {
        Json data = Json::object();
        for (const Json& p : pd["params"]) {
          if (!p.is_object() || !p.contains("name")) continue;
          if (p.contains("fileName")) {
            imp.warn(where + ": form field " + json_display(p["name"]) +
                     " is a file upload; its content is not in the HAR and was left out");
            continue;
          }
          data[json_display(p["name"])] = p.contains("value") ? json_display(p["value"]) : "";
        }
        task["data"] = std::move(data);
      } else if (!body.empty()) {
        task["data"] = body;
      }
    }
    if (e.contains("response") && e["response"].is_object()) {
      const Json& st = e["response"]["status"];
      if (st.is_number_integer() && st.get<std::int64_t>() != 0) {
        task["assertions"] = Json::array({{{"type", "status_code"}, {"value", st}}});
      }
    }
    imp.tasks.push_back(std::move(task));
  }
  return imp;
}

}  // namespace ld::importers
