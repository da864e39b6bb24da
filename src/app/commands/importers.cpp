// Importers (docs/importers.md): the original's 16 commands. LD_load_* read a file;
// LD_*_to_tasks return the task list (their warnings go to the log); LD_*_to_action_json return
// a runnable document whose "warnings" list what was not converted, and write it to
// `output_path` when given (atomically).
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <filesystem>
#include <iostream>
#include <iterator>

#include "common/format.hpp"
#include "core/log.hpp"
#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;
namespace imp = importers;

namespace {

// A source argument: an object is the parsed document, a string names its file.
Json json_source(const Args& a, const std::string& key, Json (*load)(const std::string&)) {
  const Json& v = a[key];
  if (v.is_string()) return load(v.get<std::string>());
  return v;
}

// k6 scripts and JMX plans are text: a one-line string naming an existing file is read.
std::string text_source(const Args& a, const std::string& key,
                        std::string (*load)(const std::string&)) {
  const std::string v = a.str(key);
  std::error_code ec;
  if (v.find('\n') == std::string::npos && !v.empty() && std::filesystem::is_regular_file(v, ec)) {
    return load(v);
  }
  return v;
}

std::vector<std::string> strings(const Json& v, const std::string& name) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (v.is_string()) return {v.get<std::string>()};
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) {
      throw ConfigError(name + " must be a list of strings", "/" + name + pointer_index(i));
    }
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

Json tasks_of(const imp::Import& i) {
  for (const auto& w : i.warnings) log::warn("import", w.get<std::string>());
  return i.tasks;
}

std::vector<Param> document_params() {
  return {{"user", A::kString, false, "fast_http_user", "the user type of the test"},
          {"user_count", A::kNumber, false, nullptr, "default: the source's, else 10"},
          {"spawn_rate", A::kNumber, false, nullptr, "default: the source's, else 5"},
          {"test_time", A::kNumber, false, nullptr, "seconds; default: the source's, else 60"},
          {"output_path", A::kString, false, nullptr, "also write the document to this file"}};
}

Json document_of(const imp::Import& i, const Args& a) {
  imp::DocumentOptions o;
  o.user = a.str("user", "fast_http_user");
  if (a.has("user_count")) o.user_count = a.number("user_count");
  if (a.has("spawn_rate")) o.spawn_rate = a.number("spawn_rate");
  if (a.has("test_time")) o.test_time = a.number("test_time");
  Json doc = imp::to_action_json(i, o);
  if (a.has("output_path")) {
    reports::AtomicFile f(a.str("output_path"));
    f.out() << doc.dump(2) << '\n';
    f.commit();
  }
  return doc;
}

// The three commands of one format: load, to_tasks and to_action_json.
struct Format {
  const char* load_name;
  const char* tasks_name;
  const char* doc_name;
  const char* what;          // "a HAR file"
  Param source;              // the first argument of to_tasks / to_action_json
  std::vector<Param> extra;  // more arguments of both
  Json (*load)(const std::string&);
  imp::Import (*convert)(const Args&);
};

void add_format(action::CommandRegistry& r, Format f) {
  r.add(Command{f.load_name,
                std::string("Read ") + f.what + ".",
                {{"file_path", A::kString, true, nullptr, ""}},
                [load = f.load](const Args& a) -> Json { return load(a.str("file_path")); }});
  std::vector<Param> tp = {f.source};
  tp.insert(tp.end(), f.extra.begin(), f.extra.end());
  r.add(
      Command{f.tasks_name,
              std::string("Convert ") + f.what + " into LD_start_test tasks (warnings are logged).",
              tp, [convert = f.convert](const Args& a) -> Json { return tasks_of(convert(a)); }});
  std::vector<Param> dp = {f.source};
  for (auto& p : document_params()) dp.push_back(p);
  dp.insert(dp.end(), f.extra.begin(), f.extra.end());
  r.add(Command{
      f.doc_name,
      std::string("Convert ") + f.what +
          " into a runnable action document (with its \"warnings\").",
      dp, [convert = f.convert](const Args& a) -> Json { return document_of(convert(a), a); }});
}

Json load_text_k6(const std::string& p) { return imp::load_k6_script(p); }
Json load_text_jmx(const std::string& p) { return imp::load_jmeter_jmx(p); }

}  // namespace

void register_importer_commands(action::CommandRegistry& r, App&) {
  add_format(r, {"LD_load_har",
                 "LD_har_to_tasks",
                 "LD_har_to_action_json",
                 "a HAR recording",
                 {"har", A::kObject | A::kString, true, nullptr, "the HAR object, or its file"},
                 {{"include", A::kArray | A::kString | A::kNull, false, nullptr,
                   "regexes: keep entries whose URL matches one"},
                  {"exclude", A::kArray | A::kString | A::kNull, false, nullptr,
                   "regexes: drop entries whose URL matches one"}},
                 imp::load_har,
                 [](const Args& a) {
                   return imp::har_to_tasks(json_source(a, "har", imp::load_har),
                                            strings(a["include"], "include"),
                                            strings(a["exclude"], "exclude"));
                 }});
  add_format(r, {"LD_load_postman_collection",
                 "LD_postman_to_tasks",
                 "LD_postman_to_action_json",
                 "a Postman collection (v2.0/v2.1)",
                 {"collection", A::kObject | A::kString, true, nullptr,
                  "the collection object, or its file"},
                 {},
                 imp::load_postman,
                 [](const Args& a) {
                   return imp::postman_to_tasks(json_source(a, "collection", imp::load_postman));
                 }});
  add_format(
      r, {"LD_load_openapi",
          "LD_openapi_to_tasks",
          "LD_openapi_to_action_json",
          "an OpenAPI 3.0/3.1 or Swagger 2.0 spec (JSON or YAML)",
          {"spec", A::kObject | A::kString, true, nullptr, "the spec object, or its file"},
          {{"base_url", A::kString | A::kNull, false, nullptr, "replaces the spec's server URL"}},
          imp::load_openapi,
          [](const Args& a) {
            return imp::openapi_to_tasks(json_source(a, "spec", imp::load_openapi),
                                         a.str("base_url"));
          }});
  add_format(r, {"LD_load_k6_script",
                 "LD_k6_script_to_tasks",
                 "LD_k6_script_to_action_json",
                 "a k6 script (read, never run)",
                 {"script", A::kString, true, nullptr, "the script text, or its file"},
                 {},
                 load_text_k6,
                 [](const Args& a) {
                   return imp::k6_to_tasks(text_source(a, "script", imp::load_k6_script));
                 }});
  add_format(r, {"LD_load_jmeter_jmx",
                 "LD_jmeter_to_tasks",
                 "LD_jmeter_to_action_json",
                 "a JMeter .jmx plan",
                 {"jmx", A::kString, true, nullptr, "the plan's XML, or its file"},
                 {},
                 load_text_jmx,
                 [](const Args& a) {
                   return imp::jmeter_to_tasks(text_source(a, "jmx", imp::load_jmeter_jmx));
                 }});
  r.add(Command{"LD_curl_to_task",
                "Convert a cURL command line into one task.",
                {{"command", A::kString, true, nullptr, "e.g. curl -X POST -H 'A: b' URL"}},
                [](const Args& a) -> Json {
                  imp::Import i;
                  Json task = imp::curl_to_task(a.str("command"), &i);
                  tasks_of(i);
                  return task;
                }});
}

}  // namespace ld::app

namespace ld::app {

int import_file(const ImportRequest& req, std::ostream& out, std::ostream& err) {
  imp::Import i;
  const std::string& f = req.file;
  if (req.format == "har") {
    i = imp::har_to_tasks(imp::load_har(f), req.include, req.exclude);
  } else if (req.format == "postman") {
    i = imp::postman_to_tasks(imp::load_postman(f));
  } else if (req.format == "openapi") {
    i = imp::openapi_to_tasks(imp::load_openapi(f), req.base_url);
  } else if (req.format == "curl") {
    std::error_code ec;
    if (f == "-") {
      i = imp::curl_to_tasks(std::string(std::istreambuf_iterator<char>(std::cin), {}));
    } else if (f.rfind("curl ", 0) == 0 && !std::filesystem::exists(f, ec)) {
      i = imp::curl_to_tasks(f);  // the command line itself
    } else {
      i = imp::curl_to_tasks(imp::read_text(f, "cURL command file"));
    }
  } else if (req.format == "k6") {
    i = imp::k6_to_tasks(imp::load_k6_script(f));
  } else if (req.format == "jmeter") {
    i = imp::jmeter_to_tasks(imp::load_jmeter_jmx(f));
  } else {
    throw ConfigError("unknown import format '" + req.format +
                      "' (use har, postman, openapi, curl, k6 or jmeter)");
  }
  if (i.tasks.empty()) throw ConfigError(f + ": nothing to import (no request found)");
  const Json doc = imp::to_action_json(i, req.document);
  for (const auto& w : i.warnings) err << "warning: " << w.get<std::string>() << '\n';
  if (req.output.empty() || req.output == "-") {
    out << doc.dump(2) << '\n';
  } else {
    reports::AtomicFile file(req.output);
    file.out() << doc.dump(2) << '\n';
    file.commit();
    err << req.output << ": " << i.tasks.size() << " task(s), " << i.warnings.size()
        << " warning(s)\n";
  }
  return 0;
}

}  // namespace ld::app
