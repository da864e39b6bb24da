// cURL command lines: POSIX shell words (with bash's $'...' as "Copy as cURL" writes them),
// then curl's options. Options taking a value never swallow the URL: an unknown option is
// reported and, when the next word is a URL, takes no value.
#include <cctype>

#include "core/text.hpp"
#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {

namespace {

std::vector<std::string> shell_words(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  std::size_t i = 0;
  auto fail = [&](const std::string& what, std::size_t at) {
    throw ConfigError("curl: " + what + " (character " + std::to_string(at + 1) + ")", "");
  };
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '\n' || s[i + 1] == '\r')) {
      i += 2;  // line continuation
      if (i < s.size() && s[i - 1] == '\r' && s[i] == '\n') ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(cur)), cur.clear(), in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) fail("unterminated single quote", i);
      cur.append(s.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '$' && i + 1 < s.size() && s[i + 1] == '\'') {
      const std::size_t start = i;
      i += 2;
      for (;;) {
        if (i >= s.size()) fail("unterminated $'...' quote", start);
        char d = s[i];
        if (d == '\'') {
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < s.size()) {
          const char e = s[i + 1];
          i += 2;
          switch (e) {
            case '0':
              cur += '\0';
              break;
            case 'x': {
              int v = 0, n = 0;
              while (n < 2 && i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i]))) {
                v = v * 16 + (std::isdigit(static_cast<unsigned char>(s[i]))
                                  ? s[i] - '0'
                                  : std::tolower(static_cast<unsigned char>(s[i])) - 'a' + 10);
                ++i, ++n;
              }
              cur += static_cast<char>(v);
              break;
            }
            default:
              cur += detail::simple_escape(e);
          }
          continue;
        }
        cur += d;
        ++i;
      }
    } else if (c == '"') {
      const std::size_t start = i;
      ++i;
      for (;;) {
        if (i >= s.size()) fail("unterminated double quote", start);
        const char d = s[i];
        if (d == '"') {
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < s.size() &&
            (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == '$' || s[i + 1] == '`')) {
          cur += s[i + 1];
          i += 2;
          continue;
        }
        if (d == '\\' && i + 1 < s.size() && s[i + 1] == '\n') {
          i += 2;
          continue;
        }
        cur += d;
        ++i;
      }
    } else if (c == '\\' && i + 1 < s.size()) {
      cur += s[i + 1];
      i += 2;
    } else {
      cur += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

bool looks_like_url(const std::string& w) {
  return w.find("://") != std::string::npos ||
         (!w.empty() && w[0] != '-' && w.find('.') != std::string::npos &&
          w.find(' ') == std::string::npos);
}

}  // namespace

Json curl_to_task(std::string_view command, Import* imp) {
  Import local;
  Import& out = imp ? *imp : local;
  std::vector<std::string> w = shell_words(command);
  std::size_t i = 0;
  if (!w.empty() && (w[0] == "curl" || w[0].ends_with("/curl"))) i = 1;
  std::string method, url;
  bool method_set = false, get_mode = false, head = false;
  Json headers = Json::object();
  std::vector<std::string> data_parts;
  Json form = Json::object(), files = Json::object();
  Json task = Json::object();
  bool json_flag = false;

  // Long options and their short forms; "value" ones take the next word.
  struct Opt {
    const char* lng;
    char shrt;
    bool value;
  };
  static const Opt kOpts[] = {
      {"request", 'X', true},
      {"header", 'H', true},
      {"data", 'd', true},
      {"data-raw", 0, true},
      {"data-binary", 0, true},
      {"data-ascii", 0, true},
      {"data-urlencode", 0, true},
      {"json", 0, true},
      {"form", 'F', true},
      {"form-string", 0, true},
      {"user", 'u', true},
      {"cookie", 'b', true},
      {"user-agent", 'A', true},
      {"referer", 'e', true},
      {"url", 0, true},
      {"max-time", 'm', true},
      {"connect-timeout", 0, true},
      {"output", 'o', true},
      {"proxy", 'x', true},
      {"cookie-jar", 'c', true},
      {"cacert", 0, true},
      {"cert", 'E', true},
      {"key", 0, true},
      {"oauth2-bearer", 0, true},
      {"retry", 0, true},
      {"write-out", 'w', true},
      {"range", 'r', true},
      {"insecure", 'k', false},
      {"location", 'L', false},
      {"compressed", 0, false},
      {"get", 'G', false},
      {"head", 'I', false},
      {"silent", 's', false},
      {"show-error", 'S', false},
      {"verbose", 'v', false},
      {"include", 'i', false},
      {"fail", 'f', false},
      {"http1.1", 0, false},
      {"http2", 0, false},
      {"no-progress-meter", 0, false},
      {"globoff", 'g', false},
      {"fail-with-body", 0, false},
      {"remote-name", 'O', false},
      {"progress-bar", '#', false},
  };
  auto apply = [&](const std::string& name, const std::string& v) {
    if (name == "request") {
      method = text::lower(v), method_set = true;
    } else if (name == "header") {
      const auto colon = v.find(':');
      if (colon == std::string::npos) {
        out.warn("curl: header '" + v + "' has no ':'; left out");
        return;
      }
      headers[std::string(text::trim_header(v.substr(0, colon)))] =
          std::string(text::trim_header(v.substr(colon + 1)));
    } else if (name == "data" || name == "data-raw" || name == "data-binary" ||
               name == "data-ascii") {
      if (name != "data-raw" && !v.empty() && v[0] == '@') {
        out.warn("curl: --" + name + " " + v + " reads a file; the file name was kept as the body");
      }
      data_parts.push_back(v);
    } else if (name == "data-urlencode") {
      const auto eq = v.find('=');
      std::string enc;
      if (eq == std::string::npos) {
        text::url_encode(v, enc);
      } else {
        enc = v.substr(0, eq + 1);
        text::url_encode(std::string_view(v).substr(eq + 1), enc);
      }
      data_parts.push_back(enc);
    } else if (name == "json") {
      data_parts.push_back(v);
      json_flag = true;
    } else if (name == "form" || name == "form-string") {
      const auto eq = v.find('=');
      if (eq == std::string::npos) {
        out.warn("curl: form field '" + v + "' has no '='; left out");
        return;
      }
      const std::string key = v.substr(0, eq), val = v.substr(eq + 1);
      if (name == "form" && !val.empty() && val[0] == '@') {
        files[key] = val.substr(
            1, val.find(';') == std::string::npos ? std::string::npos : val.find(';') - 1);
      } else if (name == "form" && !val.empty() && val[0] == '<') {
        out.warn("curl: form field '" + key + "' reads its value from a file; left out");
      } else {
        form[key] = val;
      }
    } else if (name == "user") {
      const auto colon = v.find(':');
      task["auth"] = {{"type", "basic"},
                      {"username", v.substr(0, colon)},
                      {"password", colon == std::string::npos ? "" : v.substr(colon + 1)}};
    } else if (name == "oauth2-bearer") {
      task["auth"] = {{"type", "bearer"}, {"token", v}};
    } else if (name == "cookie") {
      if (v.find('=') == std::string::npos) {
        out.warn("curl: --cookie " + v + " names a cookie file; left out");
        return;
      }
      Json cookies = Json::object();
      std::string_view rest = v;
      while (!rest.empty()) {
        const auto semi = rest.find(';');
        const std::string_view part = text::trim_header(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
        const auto eq = part.find('=');
        if (eq == std::string_view::npos) continue;
        cookies[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
      }
      task["cookies"] = std::move(cookies);
    } else if (name == "user-agent") {
      headers["User-Agent"] = v;
    } else if (name == "referer") {
      headers["Referer"] = v;
    } else if (name == "url") {
      url = v;
    } else if (name == "max-time") {
      char* end = nullptr;
      const double t = std::strtod(v.c_str(), &end);
      if (end && *end == 0 && t > 0) task["timeout"] = t;
    } else if (name == "insecure") {
      task["verify"] = false;
    } else if (name == "location") {
      task["allow_redirects"] = true;
    } else if (name == "get") {
      get_mode = true;
    } else if (name == "head") {
      head = true;
    } else if (name == "cert") {
      task["cert"] = v;
    } else if (name == "cacert") {
      task["verify"] = v;
    } else if (name == "compressed") {
      if (!headers.contains("Accept-Encoding")) headers["Accept-Encoding"] = "gzip, deflate";
    } else if (name == "proxy" || name == "connect-timeout" || name == "retry" || name == "key" ||
               name == "range") {
      out.warn("curl: --" + name + " " + v + " has no task field; left out");
    }
    // Output and verbosity options change nothing in a load test.
  };

  while (i < w.size()) {
    const std::string& word = w[i++];
    if (word.size() > 2 && word.rfind("--", 0) == 0) {
      std::string name = word.substr(2), value;
      const auto eq = name.find('=');
      bool inline_value = false;
      if (eq != std::string::npos)
        value = name.substr(eq + 1), name.resize(eq), inline_value = true;
      const Opt* opt = nullptr;
      for (const auto& o : kOpts) {
        if (name == o.lng) opt = &o;
      }
      if (!opt) {
        // An unknown option: takes the next word unless that is the URL.
        std::string skipped;
        if (!inline_value && i < w.size() && !w[i].empty() && w[i][0] != '-' &&
            !looks_like_url(w[i])) {
          skipped = " " + w[i++];
        }
        out.warn("curl: unknown option --" + name + skipped + "; left out");
        continue;
      }
      if (opt->value && !inline_value) {
        if (i >= w.size()) throw ConfigError("curl: --" + name + " needs a value", "");
        value = w[i++];
      }
      apply(opt->lng, value);
      continue;
    }
    if (word.size() >= 2 && word[0] == '-' && word[1] != '-') {
      // Short options, possibly grouped (-sSL) or with the value attached (-XPOST).
      for (std::size_t k = 1; k < word.size(); ++k) {
        const Opt* opt = nullptr;
        for (const auto& o : kOpts) {
          if (o.shrt == word[k]) opt = &o;
        }
        if (!opt) {
          out.warn(std::string("curl: unknown option -") + word[k] + "; left out");
          continue;
        }
        if (opt->value) {
          std::string value = word.substr(k + 1);
          if (value.empty()) {
            if (i >= w.size()) {
              throw ConfigError(std::string("curl: -") + word[k] + " needs a value", "");
            }
            value = w[i++];
          }
          apply(opt->lng, value);
          break;
        }
        apply(opt->lng, "");
      }
      continue;
    }
    if (url.empty()) {
      url = word;
    } else {
      out.warn("curl: a second URL " + json_brief(word, 60) + " was left out");
    }
  }
  if (url.empty()) throw ConfigError("curl: the command has no URL", "");
  if (url.find("://") == std::string::npos) url = "http://" + url;  // as curl does

  std::string body;
  for (std::size_t k = 0; k < data_parts.size(); ++k) body += (k ? "&" : "") + data_parts[k];
  if (get_mode && !data_parts.empty()) {
    url += (url.find('?') == std::string::npos ? "?" : "&") + body;
    data_parts.clear();
  }
  if (!method_set) {
    method = head                                                       ? "head"
             : (!data_parts.empty() || !form.empty() || !files.empty()) ? "post"
                                                                        : "get";
  }
  task["method"] = method;
  task["request_url"] = url;
  if (json_flag) {
    if (!headers.contains("Content-Type")) headers["Content-Type"] = "application/json";
    if (!headers.contains("Accept")) headers["Accept"] = "application/json";
  }
  if (!headers.empty()) task["headers"] = headers;
  if (!data_parts.empty()) {
    std::string ctype;
    for (auto it = headers.begin(); it != headers.end(); ++it) {
      if (text::iequals(it.key(), "content-type")) ctype = it.value().get<std::string>();
    }
    detail::set_text_body(task, body, json_flag || ctype.find("json") != std::string::npos);
  }
  if (!files.empty()) {
    task["files"] = files;
    if (!form.empty()) task["data"] = form;
  } else if (!form.empty()) {
    task["data"] = form;
    out.warn("curl: -F sends multipart form data; the task sends the fields url-encoded");
  }
  task["name"] = detail::default_name(method, url);
  return task;
}

Import curl_to_tasks(std::string_view command) {
  Import imp;
  imp.tasks.push_back(curl_to_task(command, &imp));
  return imp;
}

}  // namespace ld::importers
