// What every importer shares: the action document around the tasks, URL paths for names,
// bodies, durations and Postman-style templates.
#include <cctype>
#include <charconv>
#include <cmath>

#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {

std::string read_text(const std::string& path, const std::string& what) {
  std::string text = read_input_file(path, limits::kMaxDocumentBytes, what);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // utf-8-sig, as the original
  return text;
}

Json to_action_json(const Import& imp, const DocumentOptions& opts) {
  auto pick = [&](const std::optional<double>& given, const char* key, double fallback) -> Json {
    double v = fallback;
    if (given) {
      v = *given;
    } else if (imp.plan.contains(key)) {
      return imp.plan[key];
    }
    if (v == std::floor(v) && std::abs(v) < 1e15) return static_cast<std::int64_t>(v);
    return v;
  };
  Json args = {{"user_detail_dict", {{"user", opts.user}}},
               {"tasks", {{"mode", "sequence"}, {"tasks", imp.tasks}}},
               {"user_count", pick(opts.user_count, "user_count", 10)},
               {"spawn_rate", pick(opts.spawn_rate, "spawn_rate", 5)},
               {"test_time", pick(opts.test_time, "test_time", 60)}};
  // A shape from the source (k6 stages) runs unless the caller fixed the user count.
  if (imp.plan.contains("load_shape") && !opts.user_count) {
    args["load_shape"] = imp.plan["load_shape"];
    args["shape_config"] = imp.plan["shape_config"];
    if (!opts.test_time) args.erase("test_time");  // the test ends with the shape
  }
  Json actions = Json::array();
  if (!imp.variables.empty()) {
    actions.push_back(Json::array({"LD_register_variables", {{"variables", imp.variables}}}));
  }
  actions.push_back(Json::array({"LD_start_test", std::move(args)}));
  return {{"load_density", std::move(actions)}, {"warnings", imp.warnings}};
}

namespace detail {

std::string url_path(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos || scheme == 0) return std::string(url);
  for (std::size_t i = 0; i < scheme; ++i) {
    if (!std::isalpha(static_cast<unsigned char>(url[i]))) return std::string(url);
  }
  const auto slash = url.find('/', scheme + 3);
  if (slash == scheme + 3) return std::string(url);  // no authority
  if (slash == std::string_view::npos) {
    const auto q = url.find('?', scheme + 3);
    return q == std::string_view::npos ? "/" : "/" + std::string(url.substr(q));
  }
  return std::string(url.substr(slash));
}

std::string default_name(std::string_view method, std::string_view url) {
  std::string m(method);
  for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return m + " " + url_path(url);
}

void set_text_body(Json& task, const std::string& text, bool is_json) {
  if (text.empty()) return;
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  const bool looks = i < text.size() && (text[i] == '{' || text[i] == '[');
  if (is_json || looks) {
    Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded() && json_depth(parsed) <= limits::kMaxJsonDepth &&
        (looks || !parsed.is_string())) {
      task["json"] = std::move(parsed);
      return;
    }
  }
  task["data"] = text;
}

std::optional<double> parse_duration(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  double total = 0;
  bool any = false;
  while (!s.empty()) {
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || v < 0) return std::nullopt;
    s.remove_prefix(static_cast<std::size_t>(p - s.data()));
    double unit = 1;
    if (s.rfind("ms", 0) == 0) {
      unit = 0.001, s.remove_prefix(2);
    } else if (s.rfind("us", 0) == 0 || s.rfind("µs", 0) == 0) {
      unit = 1e-6, s.remove_prefix(s[0] == 'u' ? 2 : 3);
    } else if (!s.empty() && (s[0] == 's' || s[0] == 'm' || s[0] == 'h' || s[0] == 'd')) {
      unit = s[0] == 's' ? 1 : s[0] == 'm' ? 60 : s[0] == 'h' ? 3600 : 86400;
      s.remove_prefix(1);
    } else if (!s.empty() || any) {
      return std::nullopt;  // "5x" or "1m30" (a bare number only alone)
    }
    total += v * unit;
    any = true;
  }
  if (total > limits::kMaxSeconds) return std::nullopt;
  return total;
}

std::string postman_template(std::string_view text, std::vector<std::string>* unknown) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find("{{", i);
    if (open == std::string_view::npos) break;
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(i, open - i));
    const std::string name(text.substr(open + 2, close - open - 2));
    i = close + 2;
    if (name.empty() || name.find_first_of("{}") != std::string::npos) {
      out.append(text.substr(open, close + 2 - open));
      continue;
    }
    if (name[0] != '$') {
      out += "${var." + name + "}";
      continue;
    }
    // Postman's dynamic variables that have a placeholder of ours.
    static const std::pair<const char*, const char*> kDynamic[] = {
        {"$guid", "${uuid()}"},
        {"$randomUUID", "${uuid()}"},
        {"$timestamp", "${now()}"},
        {"$isoTimestamp", "${now()}"},
        {"$randomInt", "${randint(0,1000)}"},
        {"$randomFirstName", "${faker.first_name}"},
        {"$randomLastName", "${faker.last_name}"},
        {"$randomFullName", "${faker.name}"},
        {"$randomUserName", "${faker.user_name}"},
        {"$randomEmail", "${faker.email}"},
        {"$randomExampleEmail", "${faker.email}"},
        {"$randomPhoneNumber", "${faker.phone_number}"},
        {"$randomCity", "${faker.city}"},
        {"$randomCountry", "${faker.country}"},
        {"$randomStreetAddress", "${faker.street_address}"},
        {"$randomCompanyName", "${faker.company}"},
        {"$randomWord", "${faker.word}"},
        {"$randomLoremSentence", "${faker.sentence}"},
        {"$randomIP", "${faker.ipv4}"},
        {"$randomUrl", "${faker.url}"},
        {"$randomPassword", "${faker.password}"},
        {"$randomBoolean", "${faker.boolean}"},
    };
    bool found = false;
    for (const auto& [from, to] : kDynamic) {
      if (name == from) {
        out += to;
        found = true;
        break;
      }
    }
    if (!found) {
      out.append(text.substr(open, close + 2 - open));
      if (unknown) unknown->push_back(name);
    }
  }
  out.append(text.substr(i));
  return out;
}

}  // namespace detail
}  // namespace ld::importers
