#include <algorithm>
#include <cctype>
#include <filesystem>
#include <ostream>

#include "app/app.hpp"
#include "engine/plan.hpp"
#include "params/sources.hpp"
#include "engine/scheduler.hpp"
#include "loaddensity/core/error.hpp"
#include "core/text.hpp"
#include "summary/summary.hpp"
#include "stats/record_log.hpp"
#include "target/target.hpp"

namespace ld::app {

using action::Command;
using action::Param;
namespace A = action;

App::App(std::ostream& out, std::ostream& err, Options options)
    : out_(out), err_(err), options_(options) {
  engine::register_builtin_protocols(protocols_);
  session_.begin_record_run = [this](const engine::NameTable& names, std::uint64_t max_bytes) {
    return begin_record_run(names, max_bytes);  // null unless a document asked for records
  };
  register_commands();
  register_report_commands();
}

App::~App() = default;

std::string App::data_path(const std::string& path) const {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty() || fs::path(path).is_absolute() || fs::exists(path, ec) || doc_dirs_.empty()) {
    return path;
  }
  const fs::path alt = fs::path(doc_dirs_.back()) / path;
  return fs::exists(alt, ec) ? alt.string() : path;
}

namespace {
// While a document is checked or runs, relative data paths resolve against its directory.
struct DocDirScope {
  std::vector<std::string>& dirs;
  bool on = false;
  DocDirScope(std::vector<std::string>& d, const std::string& source) : dirs(d) {
    namespace fs = std::filesystem;
    std::error_code ec;
    on = fs::is_regular_file(source, ec);
    if (on) dirs.push_back(fs::path(source).parent_path().string());
  }
  ~DocDirScope() {
    if (on) dirs.pop_back();
  }
  DocDirScope(const DocDirScope&) = delete;
  DocDirScope& operator=(const DocDirScope&) = delete;
};
}  // namespace

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
  DocDirScope scope(doc_dirs_, doc.source);
  Counter checking(checking_);
  action::Executor ex(registry_, out_, err_);
  ex.check(doc);
}

action::ExecutionReport App::execute(const action::Document& doc, bool check_first,
                                     bool keep_results) {
  DocDirScope scope(doc_dirs_, doc.source);
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

// The LD_start_test parameters, in the original's positional order.
std::vector<Param> start_test_params() {
  return {
      {"user_detail_dict", A::kObject, true, nullptr, "{\"user\": \"fast_http_user\"}"},
      {"user_count", A::kInteger, false, 50, "number of virtual users"},
      {"spawn_rate", A::kNumber, false, 10, "users started per second"},
      {"test_time", A::kNumber | A::kNull, false, 60, "seconds; null runs until stopped"},
      {"web_ui_dict", A::kObject | A::kNull, false, nullptr, ""},
      {"runner_mode", A::kString, false, "local", ""},
      {"master_bind_host", A::kString, false, "*", ""},
      {"master_bind_port", A::kInteger, false, 5557, ""},
      {"master_host", A::kString, false, "127.0.0.1", ""},
      {"master_port", A::kInteger, false, 5557, ""},
      {"expected_workers", A::kInteger, false, 0, ""},
      {"tasks", A::kArray | A::kObject, true, nullptr, "the task list"},
      {"host", A::kString | A::kNull, false, nullptr, "base URL for relative task URLs"},
      {"variables", A::kObject | A::kNull, false, nullptr, "variables registered before the run"},
      {"csv_sources", A::kArray | A::kNull, false, nullptr, ""},
      {"load_shape", A::kString | A::kNull, false, nullptr, ""},
      {"shape_config", A::kObject | A::kNull, false, nullptr, ""},
      {"threads", A::kInteger | A::kNull, false, nullptr, "worker threads (default: cores)"},
      {"hard_timeout", A::kNumber | A::kNull, false, nullptr, "watchdog: seconds before a hung run is ended"},
      {"graceful_stop", A::kNumber | A::kNull, false, nullptr,
       "seconds in-flight requests may finish after test_time before they are aborted (30)"},
      {"connection", A::kAny, false, nullptr, "accepted for compatibility (a protocol extra)"},
      {"connection_string", A::kAny, false, nullptr,
       "accepted for compatibility (a protocol extra)"},
      {"bootstrap_servers", A::kAny, false, nullptr,
       "accepted for compatibility (a protocol extra)"},
      {"record_log_max_mb", A::kInteger | A::kNull, false, nullptr,
       "disk cap of this run's per-request records in MiB (default 1024; 0 = no cap); past "
       "it the records are sampled"},
  };
}

// One entry of a CSV source list: {name, file_path, cycle?}. Returns its `cycle` (default true).
bool check_csv_entry(const Json& s, const std::string& p) {
  if (!s.is_object() || !s.contains("name") || !s["name"].is_string() ||
      !s.contains("file_path") || !s["file_path"].is_string()) {
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

void App::register_commands() {
  auto& r = registry_;

  // ---- LD_start_test
  auto validate_start = [this](const Json& args) {
    if (checking_ && args["csv_sources"].is_array()) {
      check_csv_list(args["csv_sources"], "/csv_sources");
    }
    if (const Json& cap = args["record_log_max_mb"];
        !cap.is_null() && (cap.get<std::int64_t>() < 0 || cap.get<std::int64_t>() > (1 << 30))) {
      throw ConfigError("record_log_max_mb must be from 0 (no cap) to 1073741824 MiB, got " +
                            cap.dump(),
                        "/record_log_max_mb");
    }
    engine::PlanConfig plan = runner_.check(args);
    check_csv_columns(args["tasks"], "/tasks");
    return plan;
  };
  r.add(Command{
      "LD_start_test",
      "Run a load test: users, spawn rate, duration and the task list each user loops over.",
      [this] {
        // The engine's options, then every protocol's own (declared by the protocol).
        auto params = start_test_params();
        for (auto& o : protocols_.options()) params.push_back(std::move(o));
        return params;
      }(),
      [this](const Json& args) -> Json {
        Json a = args;
        if (a["threads"].is_null() && options_.threads) a["threads"] = options_.threads;
        if (a["web_ui_dict"].is_object()) {
          err_ << "note: web_ui_dict is accepted for compatibility; this build shows progress on "
                  "the terminal instead of a web UI\n";
        }
        if (a["variables"].is_object()) {
          for (auto it = a["variables"].begin(); it != a["variables"].end(); ++it) {
            resolver_.set_variable(it.key(), json_display(it.value()));
          }
        }
        if (a["csv_sources"].is_array()) register_csv_sources(a["csv_sources"], "/csv_sources");
        if (a["hard_timeout"].is_null() && options_.hard_timeout_s > 0) {
          a["hard_timeout"] = options_.hard_timeout_s;
        }
        check_csv_columns(a["tasks"], "/tasks");  // the runner checks everything else
        std::unique_ptr<engine::ProgressSink> progress;
        if (options_.progress) progress = engine::make_terminal_progress(err_);
        const RunResult result =
            runner_.run(a, session_, RunControls{&interrupted_, progress.get(), nullptr});
        const engine::PlanConfig& plan = result.plan;
        const engine::RunOutcome& outcome = result.outcome;
        if (const std::uint64_t every = outcome.metrics.runs.empty()
                                            ? 1
                                            : outcome.metrics.runs.back().records_sample_every;
            every > 1) {
          err_ << "note: the per-request record log reached record_log_max_mb; per-request "
                  "reports of this run list a sample (down to 1 in "
               << every << " requests); aggregates are exact\n";
        }
        if (!options_.quiet) {
          out_ << '\n';
          reports::print_table(outcome.metrics, out_);
          out_ << '\n';
        }
        if (outcome.stop_reason == "interrupted") throw Interrupted();
        return Json{{"user_detail", a["user_detail_dict"]},
                    {"user_count", plan.users},
                    {"spawn_rate", plan.spawn_rate},
                    {"test_time", a["test_time"]},
                    {"web_ui", a["web_ui_dict"]},
                    {"runner_mode", "local"},
                    {"requests", outcome.metrics.requests()},
                    {"failures", outcome.metrics.failures()},
                    {"stop_reason", outcome.stop_reason},
                    {"load_model", outcome.metrics.runs.back().load_model}};
      },
      [validate_start](const Json& args) { validate_start(args); },
      true});

  // ---- variables
  r.add(Command{"LD_register_variable",
                "Register one variable for ${var.NAME} / ${NAME} placeholders.",
                {{"name", A::kString, true, nullptr, ""}, {"value", A::kAny, true, nullptr, ""}},
                [this](const Json& a) -> Json {
                  resolver_.set_variable(a["name"].get<std::string>(), json_display(a["value"]));
                  return {{"registered", a["name"]}};
                }});
  r.add(Command{"LD_register_variables", "Register several variables from an object.",
                {{"variables", A::kObject, true, nullptr, "{\"name\": value, ...}"}},
                [this](const Json& a) -> Json {
                  Json names = Json::array();
                  for (auto it = a["variables"].begin(); it != a["variables"].end(); ++it) {
                    resolver_.set_variable(it.key(), json_display(it.value()));
                    names.push_back(it.key());
                  }
                  return {{"registered", names}};
                }});

  // ---- results
  r.add(Command{"LD_summary", "Return the summary of every test since the last clear.", {},
                [this](const Json&) -> Json { return reports::build_summary(metrics_); }});
  r.add(Command{"LD_generate_summary_report",
                "Write the summary JSON (totals, latency_overall, per_name) to <report_name>.json.",
                {{"report_name", A::kString, false, "loaddensity-summary", ""}},
                [this](const Json& a) -> Json {
                  return reports::write_summary_report(metrics_,
                                                       a["report_name"].get<std::string>());
                }});
  r.add(Command{"LD_clear_records", "Forget every result recorded so far.", {},
                [this](const Json&) -> Json {
                  metrics_.clear();
                  if (record_log_) record_log_->clear();
                  sla_results_ = nullptr;
                  return {{"status", "cleared"}};
                }});

  // ---- nesting
  r.add(Command{"LD_execute_action",
                "Run a nested action list.",
                {{"action_list", A::kArray | A::kObject, true, nullptr, "actions"}},
                [this](const Json& a) -> Json {
                  if (depth_ >= limits::kMaxActionNesting) {
                    throw ConfigError("actions nested more than " +
                                      std::to_string(limits::kMaxActionNesting) + " levels deep");
                  }
                  ++depth_;
                  struct Leave {
                    int& d;
                    ~Leave() { --d; }
                  } leave{depth_};
                  auto doc = action::parse_document_json(a["action_list"], "LD_execute_action");
                  auto rep = execute(doc, false);  // checked with its parent document
                  if (rep.failed) {
                    throw std::runtime_error(std::to_string(rep.failed) + " nested action(s) failed");
                  }
                  return rep.results;
                },
                nullptr,
                false,
                false,
                "action_list"});
  r.add(Command{"LD_execute_files",
                "Run action files in order.",
                {{"execute_files_list", A::kArray, true, nullptr, "paths"}},
                [this](const Json& a) -> Json {
                  if (depth_ >= limits::kMaxActionNesting) {
                    throw ConfigError("actions nested more than " +
                                      std::to_string(limits::kMaxActionNesting) + " levels deep");
                  }
                  ++depth_;
                  struct Leave {
                    int& d;
                    ~Leave() { --d; }
                  } leave{depth_};
                  Json out = Json::array();
                  std::size_t failed = 0;
                  for (const auto& f : a["execute_files_list"]) {
                    if (!f.is_string()) throw ConfigError("execute_files_list holds file paths");
                    auto rep = execute(action::load_document_file(f.get<std::string>()));
                    failed += rep.failed;
                    out.push_back({{"file", f}, {"results", rep.results}});
                  }
                  if (failed)
                    throw std::runtime_error(std::to_string(failed) + " action(s) failed");
                  return out;
                },
                [this](const Json& a) {
                  // The files are read and checked now, as part of the calling document.
                  const Json& list = a["execute_files_list"];
                  for (std::size_t i = 0; i < list.size(); ++i) {
                    const std::string ptr = "/execute_files_list" + pointer_index(i);
                    if (!list[i].is_string()) {
                      throw ConfigError("execute_files_list holds file paths, got " +
                                            std::string(json_type_name(list[i])),
                                        ptr);
                    }
                    if (check_depth_ >= limits::kMaxActionNesting) {
                      throw ConfigError("action files nested more than " +
                                            std::to_string(limits::kMaxActionNesting) +
                                            " levels deep",
                                        ptr);
                    }
                    ++check_depth_;
                    struct Leave {
                      int& d;
                      ~Leave() { --d; }
                    } leave{check_depth_};
                    try {
                      check(action::load_document_file(list[i].get<std::string>()));
                    } catch (const ConfigError& e) {
                      throw ConfigError(e.what(), ptr);
                    }
                  }
                }});

  // ---- embedded target
  r.add(Command{
      "LD_start_target",
      "Start the embedded httpbin-like target and register its base URL as a variable.",
      {{"host", A::kString, false, "127.0.0.1", ""},
       {"port", A::kInteger, false, 0, "0 picks a free port"},
       {"threads", A::kInteger, false, 1, "server threads"},
       {"variable", A::kString, false, "target", "variable that receives the base URL"},
       {"tcp_port", A::kInteger, false, 0, "TCP echo port (0 picks a free port)"},
       {"udp_port", A::kInteger, false, 0, "UDP echo port (0 picks a free port)"},
       {"redis_port", A::kInteger, false, 0, "RESP (Redis subset) port (0 picks a free port)"}},
      [this](const Json& a) -> Json {
        if (target_ && target_->running())
          throw std::runtime_error("the target is already running");
        target::TargetOptions o;
        o.host = a["host"].get<std::string>();
        o.port = static_cast<std::uint16_t>(a["port"].get<int>());
        o.threads = static_cast<unsigned>(std::max(1, a["threads"].get<int>()));
        o.tcp_port = static_cast<std::uint16_t>(a["tcp_port"].get<int>());
        o.udp_port = static_cast<std::uint16_t>(a["udp_port"].get<int>());
        o.redis_port = static_cast<std::uint16_t>(a["redis_port"].get<int>());
        target_ = std::make_unique<target::EmbeddedTarget>(o);
        target_->start();
        // ${target} = http://H:P, ${target_ws} = ws://H:P/ws, ${target_tcp} / ${target_udp} = H:P,
        // ${target_redis} = redis://H:P/0
        const std::string var = a["variable"].get<std::string>();
        resolver_.set_variable(var, target_->base_url());
        resolver_.set_variable(var + "_ws", target_->ws_url());
        resolver_.set_variable(var + "_tcp", target_->tcp_address());
        resolver_.set_variable(var + "_udp", target_->udp_address());
        resolver_.set_variable(var + "_redis", target_->redis_url());
        return {{"url", target_->base_url()}, {"port", target_->port()},
                {"ws", target_->ws_url()},     {"tcp", target_->tcp_address()},
                {"udp", target_->udp_address()}, {"redis", target_->redis_url()}};
      },
      [](const Json& a) {
        for (const char* k : {"port", "tcp_port", "udp_port", "redis_port"}) {
          number_in_range(a[k], k, 0, 65535, false, std::string("/") + k, "(0 picks a free port)");
        }
        number_in_range(a["threads"], "threads", 1, 256, false, "/threads");
      }});
  r.add(Command{"LD_stop_target", "Stop the embedded target.", {}, [this](const Json&) -> Json {
                  if (target_) target_->stop();
                  target_.reset();
                  return {{"status", "stopped"}};
                }});

  // ---- data sources
  r.add(Command{"LD_register_csv_source",
                "Register a CSV file (header row) for ${csv.NAME.COLUMN} placeholders.",
                {{"name", A::kString, true, nullptr, ""},
                 {"file_path", A::kString, true, nullptr, ""},
                 {"cycle", A::kBool, false, true, "start over when the rows run out"}},
                [this](const Json& a) -> Json {
                  std::shared_ptr<params::DataSource> src;
                  try {
                    src = load_csv(a["name"].get<std::string>(), a["file_path"].get<std::string>(),
                                   a["cycle"].get<bool>());
                  } catch (const ConfigError& e) {
                    throw ConfigError(e.what(), "/file_path");
                  }
                  const std::size_t rows = src->rows.size();
                  resolver_.add_source("csv", std::move(src));
                  return {{"name", a["name"]}, {"rows", rows}};
                },
                [this](const Json& a) {
                  check_csv_file(a["name"], a["file_path"], a["cycle"], "/file_path");
                }});
  r.add(Command{
      "LD_register_csv_sources",
      "Register several CSV sources.",
      {{"sources", A::kArray, true, nullptr, "[{\"name\", \"file_path\", \"cycle\"}]"}},
      [this](const Json& a) -> Json { return register_csv_sources(a["sources"], "/sources"); },
      [this](const Json& a) { check_csv_list(a["sources"], "/sources"); }});
  r.add(Command{"LD_register_db_source",
                "Register the rows of a SQL query (SQLite or PostgreSQL) for ${db.NAME.COLUMN}.",
                {{"name", A::kString, true, nullptr, ""},
                 {"connection_string", A::kString, true, nullptr,
                  "sqlite:///file.db or postgresql://user@host:port/db"},
                 {"query", A::kString, true, nullptr, "SELECT ..."},
                 {"cycle", A::kBool, false, true, ""}},
                [this](const Json& a) -> Json { return register_db_source(a, ""); }});
  r.add(Command{"LD_register_db_sources", "Register several database sources.",
                {{"sources", A::kArray, true, nullptr,
                  "[{\"name\", \"connection_string\", \"query\", \"cycle\"}]"}},
                [this](const Json& a) -> Json {
                  Json out = Json::array();
                  for (std::size_t i = 0; i < a["sources"].size(); ++i) {
                    const Json& s = a["sources"][i];
                    const std::string ptr = "/sources" + pointer_index(i);
                    if (!s.is_object() || !s.contains("name") || !s.contains("connection_string") ||
                        !s.contains("query")) {
                      throw ConfigError("a db source is {\"name\", \"connection_string\", \"query\", \"cycle\"?}", ptr);
                    }
                    Json full = s;
                    if (!full.contains("cycle")) full["cycle"] = true;
                    out.push_back(register_db_source(full, ptr));
                  }
                  return out;
                }});
  r.add(Command{"LD_clear_resolver",
                "Forget registered variables and data sources.",
                {},
                [this](const Json&) -> Json {
                  resolver_.clear();
                  return {{"status", "cleared"}};
                },
                [this](const Json&) { static_csv_columns_.clear(); }});
  r.add(Command{"LD_set_faker_seed", "Make ${faker.*} values repeatable (null: random).",
                {{"seed", A::kInteger | A::kNull, false, nullptr, ""}},
                [this](const Json& a) -> Json {
                  if (a["seed"].is_null()) {
                    resolver_.set_faker_seed(std::nullopt);
                  } else {
                    resolver_.set_faker_seed(a["seed"].get<std::uint64_t>());
                  }
                  return {{"seed", a["seed"]}};
                }});

  // ---- reliability
  auto parse_budget = [](const Json& a) {
    engine::FailureBudget b;
    b.threshold =
        number_in_range(a["threshold"], "threshold", 0, 1, false, "/threshold", "(a failure rate)");
    b.window_s = number_in_range(a["window_seconds"], "window_seconds", 1, limits::kMaxSeconds,
                                 false, "/window_seconds", "seconds (10 years)");
    b.min_samples = static_cast<std::uint64_t>(number_in_range(
        a["min_samples"], "min_samples", 0, 1e12, false, "/min_samples", "requests"));
    return b;
  };
  r.add(Command{"LD_install_failure_budget",
                "Stop tests when the failure rate over a sliding window exceeds a threshold.",
                {{"threshold", A::kNumber, false, 0.05, "failure rate, 0..1"},
                 {"window_seconds", A::kNumber, false, 30.0, ""},
                 {"min_samples", A::kInteger, false, 50, ""},
                 {"runner_quit_callback", A::kAny, false, nullptr, "accepted, unused"}},
                [this, parse_budget](const Json& a) -> Json {
                  const engine::FailureBudget b = parse_budget(a);
                  failure_budget_ = b;
                  return {{"threshold", b.threshold}, {"window_seconds", b.window_s},
                          {"min_samples", b.min_samples}};
                },
                [parse_budget](const Json& a) { parse_budget(a); }});
  r.add(Command{"LD_uninstall_failure_budget", "Remove the failure budget.", {},
                [this](const Json&) -> Json {
                  failure_budget_.reset();
                  return {{"status", "uninstalled"}};
                }});
  auto parse_conditioner = [](const Json& a) {
    engine::NetworkConditioner c;
    constexpr double kMaxMs = 3'600'000;  // an hour of added latency
    c.latency_ms =
        number_in_range(a["latency_ms"], "latency_ms", 0, kMaxMs, false, "/latency_ms", "ms");
    c.jitter_ms =
        number_in_range(a["jitter_ms"], "jitter_ms", 0, kMaxMs, false, "/jitter_ms", "ms");
    c.loss_rate =
        number_in_range(a["loss_rate"], "loss_rate", 0, 1, false, "/loss_rate", "(a probability)");
    if (a["name_filter"].is_string()) c.name_filter = a["name_filter"].get<std::string>();
    return c;
  };
  r.add(Command{"LD_install_network_conditioner",
                "Add latency, jitter and loss before matching requests (counted separately).",
                {{"latency_ms", A::kNumber, false, 0, ""},
                 {"jitter_ms", A::kNumber, false, 0, ""},
                 {"loss_rate", A::kNumber, false, 0, "0..1"},
                 {"name_filter", A::kString | A::kNull, false, nullptr,
                  "substring of name or URL"}},
                [this, parse_conditioner](const Json& a) -> Json {
                  const engine::NetworkConditioner c = parse_conditioner(a);
                  conditioner_ = c;
                  return {{"latency_ms", c.latency_ms}, {"jitter_ms", c.jitter_ms},
                          {"loss_rate", c.loss_rate}, {"name_filter", a["name_filter"]}};
                },
                [parse_conditioner](const Json& a) { parse_conditioner(a); }});
  r.add(Command{"LD_uninstall_network_conditioner", "Remove the network conditioner.", {},
                [this](const Json&) -> Json {
                  conditioner_.reset();
                  return {{"status", "uninstalled"}};
                }});

  r.add(Command{"LD_list_commands", "List every command.", {},
                [this](const Json&) -> Json { return registry_.names(); }});
}

}  // namespace ld::app
