#include <algorithm>
#include <cctype>
#include <filesystem>
#include <ostream>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "core/data_path.hpp"
#include "core/text.hpp"
#include "dashboard/dashboard.hpp"
#include "engine/plan.hpp"
#include "engine/scheduler.hpp"
#include "export/exporters.hpp"
#include "loaddensity/core/error.hpp"
#include "locust/locust_csv.hpp"
#include "params/sources.hpp"
#include "stats/record_log.hpp"
#include "summary/summary.hpp"
#include "target/target.hpp"

namespace ld::app {

using action::Command;
using action::Param;
namespace A = action;

App::App(std::ostream& out, std::ostream& err, Options options, TestRunner* shared_runner)
    : out_(out),
      err_(err),
      options_(options),
      own_runner_(shared_runner ? nullptr : std::make_unique<TestRunner>(protocols_)),
      runner_(shared_runner ? *shared_runner : *own_runner_) {
  engine::register_builtin_protocols(protocols_);
  session_.begin_record_run = [this](const engine::NameTable& names, std::uint64_t max_bytes,
                                     std::size_t body_cap) {
    // null unless a document asked for records
    return begin_record_run(names, max_bytes, body_cap);
  };
  register_all_commands(registry_, *this);
}

App::~App() = default;

std::string App::data_path(const std::string& path) const { return ld::data_path(path); }

namespace {
struct Counter {
  int& n;
  explicit Counter(int& c) : n(c) { ++n; }
  ~Counter() { --n; }
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;
};
}  // namespace

void App::check(const action::Document& doc) {
  DocumentDirScope scope(doc.source);
  Counter checking(checking_);
  action::Executor ex(registry_, out_, err_);
  ex.check(doc);
}

action::ExecutionReport App::execute(const action::Document& doc, bool check_first,
                                     bool keep_results) {
  DocumentDirScope scope(doc.source);
  action::Executor ex(registry_, out_, err_);
  ex.set_interrupt_flag(&interrupted_);
  ex.set_echo(!options_.quiet);
  ex.set_keep_results(keep_results);
  if (check_first) {
    // A document read at run time is checked against the sources registered by now.
    static_csv_columns_.clear();
    for (const auto& [key, src] : resolver_.sources()) {
      if (key.rfind("csv:", 0) == 0) static_csv_columns_[src->name] = src->columns;
    }
    Counter checking(checking_);
    ex.check(doc);
  }
  return ex.run(doc);
}

void App::check_csv_file(const Json& name, const Json& path, const Json& cycle,
                         const std::string& ptr) {
  if (!name.is_string() || !path.is_string()) return;  // reported by the caller's own checks
  const std::string n = name.get<std::string>();
  const std::string p = path.get<std::string>();
  if (p.find("${") != std::string::npos) {  // known only at run time
    static_csv_columns_.erase(n);
    return;
  }
  try {
    auto src =
        params::load_csv_source(n, data_path(p), cycle.is_boolean() ? cycle.get<bool>() : true);
    static_csv_columns_[n] = std::move(src->columns);
  } catch (const ConfigError& e) {
    throw ConfigError(e.what(), ptr);
  }
}

void App::check_csv_columns(const Json& value, const std::string& ptr) const {
  if (!checking_ || static_csv_columns_.empty()) return;
  if (value.is_structured()) {
    std::size_t i = 0;
    for (auto it = value.begin(); it != value.end(); ++it, ++i) {
      check_csv_columns(*it, ptr + (value.is_object() ? pointer_key(it.key()) : pointer_index(i)));
    }
    return;
  }
  if (!value.is_string()) return;
  const std::string& s = value.get_ref<const std::string&>();
  for (std::size_t open = s.find("${"); open != std::string::npos; open = s.find("${", open + 2)) {
    const std::size_t close = s.find('}', open + 2);
    if (close == std::string::npos) return;
    std::string token = s.substr(open + 2, close - open - 2);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front())))
      token.erase(0, 1);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
      token.pop_back();
    if (token.size() < 4 || text::lower(token.substr(0, 4)) != "csv.") continue;
    const std::size_t dot = token.find('.', 4);
    if (dot == std::string::npos) continue;
    auto it = static_csv_columns_.find(token.substr(4, dot - 4));
    if (it == static_csv_columns_.end()) continue;
    const std::string col = token.substr(dot + 1);
    if (std::find(it->second.begin(), it->second.end(), col) != it->second.end()) continue;
    std::string cols;
    for (const auto& c : it->second) cols += (cols.empty() ? "" : ", ") + c;
    throw ConfigError(s.substr(open, close + 1 - open) + ": CSV source '" + it->first +
                          "' has no column '" + col + "' (columns: " + cols + ")",
                      ptr);
  }
}

std::shared_ptr<params::DataSource> App::load_csv(const std::string& name, const std::string& path,
                                                  bool cycle) {
  try {
    // ${var} placeholders in the path resolve now (such paths are not checked statically).
    const std::string resolved =
        path.find("${") == std::string::npos ? path : params::resolve_static(path, resolver_);
    return params::load_csv_source(name, data_path(resolved), cycle);
  } catch (const ConfigError& e) {
    resolver_.mark_failed("csv", name, e.what());
    throw;
  }
}

namespace {

// One entry of a CSV source list: {name, file_path, cycle?}. Returns its `cycle` (default true).
bool check_csv_entry(const Json& s, const std::string& p) {
  if (!s.is_object() || !s.contains("name") || !s["name"].is_string() || !s.contains("file_path") ||
      !s["file_path"].is_string()) {
    throw ConfigError("a CSV source is {\"name\", \"file_path\", \"cycle\"?}", p);
  }
  if (s.contains("cycle") && !s["cycle"].is_boolean()) {
    throw ConfigError("cycle must be true or false, got " + json_brief(s["cycle"], 40),
                      p + "/cycle");
  }
  return s.contains("cycle") ? s["cycle"].get<bool>() : true;
}

}  // namespace

Json App::register_csv_sources(const Json& list, const std::string& ptr) {
  Json out = Json::array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Json& s = list[i];
    const std::string p = ptr + pointer_index(i);
    const bool cycle = check_csv_entry(s, p);
    std::shared_ptr<params::DataSource> src;
    try {
      src = load_csv(s["name"].get<std::string>(), s["file_path"].get<std::string>(), cycle);
    } catch (const ConfigError& e) {
      throw ConfigError(e.what(), p + "/file_path");
    }
    out.push_back({{"name", s["name"]}, {"rows", src->rows.size()}});
    resolver_.add_source("csv", std::move(src));
  }
  return out;
}

Json App::register_db_source(const Json& a, const std::string& ptr) {
  std::shared_ptr<params::DataSource> src;
  try {
    src = params::load_db_source(a["name"].get<std::string>(),
                                 a["connection_string"].get<std::string>(),
                                 a["query"].get<std::string>(), a["cycle"].get<bool>());
  } catch (const ConfigError& e) {
    // Tests that use ${db.NAME.*} do not start (see Resolver::mark_failed).
    resolver_.mark_failed("db", a["name"].get<std::string>(), e.what());
    throw;
  }
  const std::size_t rows = src->rows.size();
  Json columns = src->columns;
  resolver_.add_source("db", std::move(src));
  return {{"name", a["name"]}, {"rows", rows}, {"columns", columns}};
}

void App::check_csv_list(const Json& list, const std::string& ptr) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Json& s = list[i];
    const std::string p = ptr + pointer_index(i);
    const Json cycle = check_csv_entry(s, p);
    check_csv_file(s["name"], s["file_path"], cycle, p + "/file_path");
  }
}

bool App::needs_records(const action::Document& doc, int depth) const {
  if (depth > 16) return false;
  for (const auto& a : doc.actions) {
    const Command* c = registry_.find(a.command);
    if (!c) continue;
    if (c->needs_records) return true;
    try {
      if (a.command == "LD_execute_action") {
        const Json bound = registry_.bind(*c, a.args);
        if (needs_records(action::parse_document_json(bound["action_list"], "nested"), depth + 1)) {
          return true;
        }
      } else if (a.command == "LD_execute_files") {
        const Json bound = registry_.bind(*c, a.args);
        for (const auto& f : bound["execute_files_list"]) {
          if (f.is_string() &&
              needs_records(action::load_document_file(f.get<std::string>()), depth + 1)) {
            return true;
          }
        }
      }
    } catch (const std::exception&) {
      // A nested document that does not load is reported when it runs.
    }
  }
  return false;
}

void App::prepare(const std::vector<action::Document>& docs) {
  bool need = !options_.csv_prefix.empty();
  for (const auto& d : docs) need = need || needs_records(d, 0);
  if (need && !record_log_) record_log_ = std::make_unique<stats::RecordLog>();
}

stats::RecordLogRun* App::begin_record_run(const engine::NameTable& names,
                                           std::uint64_t max_bytes, std::size_t body_cap) {
  if (!record_log_) return nullptr;
  record_log_->set_max_bytes(max_bytes);
  std::vector<std::pair<std::string, std::string>> v;
  std::vector<std::string> urls;
  for (std::uint32_t i = 0; i < names.size(); ++i) {
    v.push_back(names.at(i));
    urls.push_back(names.url(i));
  }
  return &record_log_->begin_run(v, steady_now(), std::move(urls), body_cap);
}

std::vector<std::string> App::write_csv_option() {
  if (options_.csv_prefix.empty()) return {};
  return reports::write_locust_csv(metrics_, record_log_.get(), options_.csv_prefix);
}

}  // namespace ld::app
