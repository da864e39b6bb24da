// JMeter .jmx plans: one task per HTTPSamplerProxy in document order. Config elements apply
// by JMeter's scoping (header managers, HTTP request defaults, response assertions, timers of
// a level reach every sampler below it; the sampler's own child tree overrides), the first
// thread group gives users, spawn rate and test time, JSON extractors become extract rules.
#include <pugixml.hpp>

#include <charconv>
#include <cmath>

#include "core/text.hpp"
#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {

namespace {

// A property of an element: stringProp/intProp/longProp/boolProp with that name ("" if none).
std::string prop(const pugi::xml_node& n, const char* name) {
  for (const auto& c : n.children()) {
    const std::string tag = c.name();
    if ((tag == "stringProp" || tag == "intProp" || tag == "longProp" || tag == "boolProp" ||
         tag == "doubleProp") &&
        std::string(c.attribute("name").value()) == name) {
      return c.child_value();
    }
  }
  return "";
}

pugi::xml_node element_prop(const pugi::xml_node& n, const char* name) {
  for (const auto& c : n.children("elementProp")) {
    if (std::string(c.attribute("name").value()) == name) return c;
  }
  return {};
}

pugi::xml_node collection_prop(const pugi::xml_node& n, const char* name) {
  for (const auto& c : n.children("collectionProp")) {
    if (std::string(c.attribute("name").value()) == name) return c;
  }
  return {};
}

// Arguments.arguments of an Arguments element: (name, value) in order.
std::vector<std::pair<std::string, std::string>> arguments(const pugi::xml_node& args) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& a : collection_prop(args, "Arguments.arguments").children("elementProp")) {
    out.emplace_back(prop(a, "Argument.name"), prop(a, "Argument.value"));
  }
  return out;
}

// What applies to the samplers of one level of the tree.
struct Layer {
  Json headers = Json::object();
  Json defaults = Json::object();  // protocol, domain, port, path of HTTP Request Defaults
  Json assertions = Json::array();
  Json extract = Json::array();
  Json think_time;
};

class Reader {
 public:
  explicit Reader(Import& imp) : imp_(imp) {}

  void read(std::string_view jmx) {
    pugi::xml_document doc;
    const auto r = doc.load_buffer(jmx.data(), jmx.size());
    if (!r) {
      const LineCol lc =
          line_col(jmx, static_cast<std::size_t>(std::max<std::ptrdiff_t>(r.offset, 0)));
      throw ConfigError("JMX line " + std::to_string(lc.line) + ": " + r.description(), "");
    }
    const auto root = doc.child("jmeterTestPlan");
    if (!root) {
      throw ConfigError("JMX: the root element is not <jmeterTestPlan> (got <" +
                            std::string(doc.first_child().name()) + ">)",
                        "");
    }
    const auto tree = root.child("hashTree");
    if (!tree) throw ConfigError("JMX jmeterTestPlan: no <hashTree>", "");
    std::vector<Layer> layers;
    walk(tree, "jmeterTestPlan", layers);
  }

 private:
  std::string convert_text(const std::string& s, const std::string& path) {
    // JMeter's ${name} is our ${name}; a few functions have placeholders of ours.
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
      const auto p = s.find("${__", i);
      if (p == std::string::npos) break;
      const auto close = s.find('}', p);
      if (close == std::string::npos) break;
      out += s.substr(i, p - i);
      const std::string call = s.substr(p + 4, close - p - 4);  // Random(1,10)
      const auto paren = call.find('(');
      const std::string fn = call.substr(0, paren);
      const std::string args =
          paren == std::string::npos ? "" : call.substr(paren + 1, call.rfind(')') - paren - 1);
      if (fn == "UUID") {
        out += "${uuid()}";
      } else if (fn == "time") {
        out += "${now()}";
      } else if (fn == "Random") {
        const auto c1 = args.find(',');
        const auto c2 = args.find(',', c1 + 1);
        out += "${randint(" + args.substr(0, c1) + "," +
               args.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1) +
               ")}";
      } else if ((fn == "P" || fn == "property") && args.find(',') != std::string::npos) {
        out += args.substr(args.find(',') + 1);
        warn(path + ": ${__" + call + "} became its default '" + args.substr(args.find(',') + 1) +
             "'");
      } else {
        out += s.substr(p, close + 1 - p);
        warn(path + ": JMeter function ${__" + fn + "} is not converted");
      }
      i = close + 1;
    }
    return out + s.substr(i);
  }

  void warn(const std::string& w) { imp_.warn("JMX " + w); }

  static std::string label(const pugi::xml_node& e) {
    const std::string name = e.attribute("testname").value();
    return std::string(e.name()) + (name.empty() ? "" : "[" + name + "]");
  }

  // Config elements of a level (siblings in one hashTree) make a layer.
  Layer layer_of(const pugi::xml_node& tree, const std::string& path) {
    Layer l;
    for (auto e = tree.first_child(); e; e = e.next_sibling()) {
      const std::string tag = e.name();
      if (tag == "hashTree" || std::string(e.attribute("enabled").value()) == "false") continue;
      const std::string here = path + "/" + label(e);
      if (tag == "HeaderManager") {
        for (const auto& h : collection_prop(e, "HeaderManager.headers").children("elementProp")) {
          const std::string name = prop(h, "Header.name");
          if (!name.empty()) l.headers[name] = convert_text(prop(h, "Header.value"), here);
        }
      } else if (tag == "ConfigTestElement" &&
                 std::string(e.attribute("guiclass").value()) == "HttpDefaultsGui") {
        for (const char* k : {"protocol", "domain", "port", "path"}) {
          const std::string v = prop(e, ("HTTPSampler." + std::string(k)).c_str());
          if (!v.empty()) l.defaults[k] = convert_text(v, here);
        }
      } else if (tag == "ResponseAssertion") {
        assertion(e, here, l.assertions);
      } else if (tag == "JSONPostProcessor") {
        const std::string names = prop(e, "JSONPostProcessor.referenceNames");
        const std::string exprs = prop(e, "JSONPostProcessor.jsonPathExprs");
        if (names.find(';') != std::string::npos || names.empty()) {
          warn(here + ": only a single JSON extraction is converted");
        } else {
          l.extract.push_back({{"var", names}, {"from", "json_path"}, {"path", exprs}});
        }
      } else if (tag == "ConstantTimer") {
        l.think_time = number(prop(e, "ConstantTimer.delay"), here, "ConstantTimer.delay") / 1000.0;
      } else if (tag == "UniformRandomTimer") {
        const double delay = number(prop(e, "ConstantTimer.delay"), here, "ConstantTimer.delay");
        const double range = number(prop(e, "RandomTimer.range"), here, "RandomTimer.range");
        l.think_time = {{"min", delay / 1000.0}, {"max", (delay + range) / 1000.0}};
      }
    }
    return l;
  }

  void assertion(const pugi::xml_node& e, const std::string& here, Json& out) {
    const std::string field = prop(e, "Assertion.test_field");
    const std::string type = prop(e, "Assertion.test_type");
    int t = 0;
    std::from_chars(type.data(), type.data() + type.size(), t);
    std::vector<std::string> strings;
    for (const auto& c : collection_prop(e, "Asserion.test_strings").children()) {
      strings.emplace_back(c.child_value());  // JMeter spells it "Asserion"
    }
    for (const auto& c : collection_prop(e, "Assertion.test_strings").children()) {
      strings.emplace_back(c.child_value());
    }
    const bool negated = (t & 4) != 0;
    if (field == "Assertion.response_code" && !negated && (t & (8 | 2 | 16 | 1))) {
      for (const auto& s : strings) {
        int code = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), code);
        if (ec == std::errc{} && p == s.data() + s.size()) {
          out.push_back({{"type", "status_code"}, {"value", code}});
        } else {
          warn(here + ": response code pattern '" + s + "' is not converted");
        }
      }
      return;
    }
    if (field == "Assertion.response_data" && (t & (2 | 16))) {
      for (const auto& s : strings) {
        out.push_back({{"type", negated ? "not_contains" : "contains"}, {"value", s}});
      }
      return;
    }
    warn(here + ": assertion on " + (field.empty() ? "?" : field) + " with test type " + type +
         " is not converted");
  }

  static double number(const std::string& s, const std::string& path, const char* what) {
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < 0) {
      throw ConfigError("JMX " + path + ": " + what + " '" + s + "' is not a non-negative number",
                        "");
    }
    return v;
  }

  void thread_group(const pugi::xml_node& e, const std::string& path) {
    if (thread_groups_++ > 0) {
      warn(path +
           ": only the first thread group sets users and time; this one's samplers are "
           "imported into the same task list");
      return;
    }
    auto opt_number = [&](const char* name) -> std::optional<double> {
      const std::string v = prop(e, name);
      if (v.empty()) return std::nullopt;
      if (v.find("${") != std::string::npos) {
        warn(path + ": " + name + " '" + v + "' is a JMeter expression; the default was used");
        return std::nullopt;
      }
      return number(v, path, name);
    };
    Json& plan = imp_.plan;
    const auto threads = opt_number("ThreadGroup.num_threads");
    if (threads) {
      if (*threads < 1)
        throw ConfigError("JMX " + path + ": ThreadGroup.num_threads must be >= 1", "");
      plan["user_count"] = static_cast<std::int64_t>(*threads);
      const auto ramp = opt_number("ThreadGroup.ramp_time");
      const double rate = ramp && *ramp > 0 ? *threads / *ramp : *threads;
      plan["spawn_rate"] = std::round(rate * 1000) / 1000;
    }
    const bool scheduler = prop(e, "ThreadGroup.scheduler") == "true";
    const auto duration = opt_number("ThreadGroup.duration");
    if (duration && *duration > 0 && (scheduler || prop(e, "ThreadGroup.scheduler").empty())) {
      plan["test_time"] = *duration;
    }
    const auto delay = opt_number("ThreadGroup.delay");
    if (delay && *delay > 0) warn(path + ": the start-up delay is not converted");
    const auto loop = element_prop(e, "ThreadGroup.main_controller");
    const std::string loops = loop ? prop(loop, "LoopController.loops") : "";
    if (!loops.empty() && loops != "-1" && !(duration && *duration > 0)) {
      warn(path + ": " + loops +
           " loop(s) per user are not converted: the test runs for its "
           "test_time");
    }
  }

  void sampler(const pugi::xml_node& e, const pugi::xml_node& own, const std::string& path,
               const std::vector<Layer>& layers) {
    Layer mine = own ? layer_of(own, path) : Layer{};
    Json headers = Json::object(), defaults = Json::object(), assertions = Json::array(),
         extract = Json::array(), think;
    for (const Layer* l : [&] {
           std::vector<const Layer*> all;
           for (const auto& x : layers) all.push_back(&x);
           all.push_back(&mine);
           return all;
         }()) {
      headers.update(l->headers);
      defaults.update(l->defaults);
      for (const auto& a : l->assertions) assertions.push_back(a);
      for (const auto& x : l->extract) extract.push_back(x);
      if (!l->think_time.is_null()) think = l->think_time;
    }
    auto field = [&](const char* k) {
      const std::string v = convert_text(prop(e, ("HTTPSampler." + std::string(k)).c_str()), path);
      if (!v.empty()) return v;
      return defaults.contains(k) ? defaults[k].get<std::string>() : std::string();
    };
    std::string method = text::lower(prop(e, "HTTPSampler.method"));
    if (method.empty()) method = "get";
    const std::string domain = field("domain"), port = field("port");
    std::string url_path = field("path");
    std::string protocol = text::lower(field("protocol"));
    if (protocol.empty()) protocol = port == "443" ? "https" : "http";
    if (!port.empty() && port.find("${") == std::string::npos) {
      int p = 0;
      auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
      if (ec != std::errc{} || end != port.data() + port.size() || p < 1 || p > 65535) {
        throw ConfigError("JMX " + path + ": HTTPSampler.port '" + port + "' is not a port", "");
      }
    }
    std::string url;
    if (url_path.find("://") != std::string::npos) {
      url = url_path;
    } else {
      if (!url_path.empty() && url_path[0] != '/') url_path = "/" + url_path;
      if (url_path.empty()) url_path = "/";
      if (domain.empty()) {
        url = url_path;
        warn(path + ": no server name; the URL is relative (set LD_start_test 'host')");
      } else {
        url = protocol + "://" + domain + (port.empty() ? "" : ":" + port) + url_path;
      }
    }
    const std::string name = e.attribute("testname").value();
    Json task = {{"name", name.empty() ? detail::default_name(method, url) : name},
                 {"method", method},
                 {"request_url", url}};
    const auto args = arguments(element_prop(e, "HTTPsampler.Arguments"));
    const bool raw = prop(e, "HTTPSampler.postBodyRaw") == "true";
    if (raw && !args.empty()) {
      bool json = false;
      for (auto it = headers.begin(); it != headers.end(); ++it) {
        if (text::iequals(it.key(), "content-type")) {
          json = it.value().get<std::string>().find("json") != std::string::npos;
        }
      }
      detail::set_text_body(task, convert_text(args[0].second, path), json);
    } else if (!args.empty()) {
      Json fields = Json::object();
      for (const auto& [k, v] : args) {
        if (!k.empty()) fields[convert_text(k, path)] = convert_text(v, path);
      }
      const bool query =
          method == "get" || method == "delete" || method == "head" || method == "options";
      if (!fields.empty()) task[query ? "params" : "data"] = std::move(fields);
    }
    if (element_prop(e, "HTTPsampler.Files") &&
        collection_prop(element_prop(e, "HTTPsampler.Files"), "HTTPFileArgs.files").first_child()) {
      warn(path + ": file uploads are not converted");
    }
    if (!headers.empty()) task["headers"] = std::move(headers);
    if (!assertions.empty()) task["assertions"] = std::move(assertions);
    if (!extract.empty()) task["extract"] = std::move(extract);
    if (!think.is_null()) task["think_time"] = think;
    imp_.tasks.push_back(std::move(task));
    if (own) others(own, path);
  }

  // Elements of a tree that are neither samplers, containers nor handled config: reported.
  void others(const pugi::xml_node& tree, const std::string& path) {
    static const char* const kHandled[] = {
        "HeaderManager",      "ResponseAssertion", "JSONPostProcessor", "ConstantTimer",
        "UniformRandomTimer", "CookieManager",     "hashTree"};
    for (auto e = tree.first_child(); e; e = e.next_sibling()) {
      const std::string tag = e.name();
      bool known = false;
      for (const char* h : kHandled) known = known || tag == h;
      if (tag == "ConfigTestElement" &&
          std::string(e.attribute("guiclass").value()) == "HttpDefaultsGui") {
        known = true;
      }
      if (known || std::string(e.attribute("enabled").value()) == "false") continue;
      warn(path + "/" + label(e) + ": not converted");
    }
  }

  void walk(const pugi::xml_node& tree, const std::string& path, std::vector<Layer>& layers) {
    layers.push_back(layer_of(tree, path));
    for (auto e = tree.first_child(); e; e = e.next_sibling()) {
      const std::string tag = e.name();
      if (tag == "hashTree") continue;
      auto child = e.next_sibling();
      const pugi::xml_node own =
          child && std::string(child.name()) == "hashTree" ? child : pugi::xml_node();
      if (std::string(e.attribute("enabled").value()) == "false") continue;
      const std::string here = path + "/" + label(e);
      if (tag == "TestPlan") {
        for (const auto& [k, v] : arguments(element_prop(e, "TestPlan.user_defined_variables"))) {
          if (!k.empty()) imp_.variables[k] = convert_text(v, here);
        }
        if (own) walk(own, here, layers);
      } else if (tag == "Arguments") {  // User Defined Variables element
        for (const auto& [k, v] : arguments(e)) {
          if (!k.empty()) imp_.variables[k] = convert_text(v, here);
        }
      } else if (tag == "ThreadGroup" || tag == "SetupThreadGroup" || tag == "PostThreadGroup") {
        if (tag != "ThreadGroup") warn(here + ": run as part of the main task list");
        thread_group(e, here);
        if (own) walk(own, here, layers);
      } else if (tag == "HTTPSamplerProxy") {
        sampler(e, own, here, layers);
      } else if (tag == "GenericController" || tag == "TransactionController") {
        if (own) walk(own, here, layers);
      } else if (tag.find("Controller") != std::string::npos) {
        warn(here + ": its samplers are imported, its logic is not converted");
        if (own) walk(own, here, layers);
      } else if (tag == "HeaderManager" || tag == "ResponseAssertion" ||
                 tag == "JSONPostProcessor" || tag == "ConstantTimer" ||
                 tag == "UniformRandomTimer" || tag == "CookieManager" ||
                 (tag == "ConfigTestElement" &&
                  std::string(e.attribute("guiclass").value()) == "HttpDefaultsGui")) {
        // read by layer_of; the cookie jar is always on
      } else if (tag == "CSVDataSet") {
        warn(here +
             ": not converted (register the file with LD_register_csv_source and use "
             "${csv.SOURCE.COLUMN})");
      } else {
        warn(here + ": not converted");
      }
    }
    layers.pop_back();
  }

  Import& imp_;
  int thread_groups_ = 0;
};

}  // namespace

std::string load_jmeter_jmx(const std::string& path) { return read_text(path, "JMeter plan"); }

Import jmeter_to_tasks(std::string_view jmx) {
  Import imp;
  Reader(imp).read(jmx);
  return imp;
}

}  // namespace ld::importers
