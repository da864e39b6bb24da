#include <ostream>

#include "app/app.hpp"
#include "engine/plan.hpp"
#include "engine/scheduler.hpp"
#include "http1/http1.hpp"
#include "loaddensity/core/error.hpp"
#include "socket/socket.hpp"
#include "sse/sse.hpp"
#include "summary/summary.hpp"
#include "target/target.hpp"
#include "websocket/websocket.hpp"

namespace ld::app {

using action::Command;
using action::Param;
namespace A = action;

App::App(std::ostream& out, std::ostream& err, Options options)
    : out_(out), err_(err), options_(options) {
  protocols_.add(proto::http1::make_protocol());
  protocols_.add(proto::websocket::make_protocol());
  protocols_.add(proto::sse::make_protocol());
  protocols_.add(proto::socket::make_protocol());
  register_commands();
}

App::~App() = default;

action::ExecutionReport App::execute(const action::Document& doc) {
  action::Executor ex(registry_, out_, err_);
  ex.set_interrupt_flag(&interrupted_);
  ex.set_echo(!options_.quiet);
  ex.check(doc);
  return ex.run(doc);
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
      {"connection", A::kAny, false, nullptr, "protocol extra"},
      {"connection_string", A::kAny, false, nullptr, "protocol extra"},
      {"http2", A::kAny, false, nullptr, "protocol extra"},
      {"bootstrap_servers", A::kAny, false, nullptr, "protocol extra"},
  };
}

}  // namespace

void App::register_commands() {
  auto& r = registry_;

  // ---- LD_start_test
  auto validate_start = [this](const Json& args) {
    engine::PlanConfig plan = engine::parse_plan(args);
    const engine::Protocol* proto = protocols_.find(plan.user_type);
    if (!proto) {
      std::string known;
      for (const auto& t : protocols_.user_types()) known += (known.empty() ? "" : ", ") + t;
      throw ConfigError("unsupported user type '" + plan.user_type + "' (available: " + known + ")",
                        "/user_detail_dict/user");
    }
    for (const char* unsupported : {"csv_sources", "load_shape", "shape_config"}) {
      const Json& v = args[unsupported];
      if (!v.is_null() && !v.empty()) {
        throw ConfigError(std::string("'") + unsupported + "' is not available in this build",
                          std::string("/") + unsupported);
      }
    }
    const std::string base = args["tasks"].is_object() && args["tasks"].contains("tasks")
                                 ? "/tasks/tasks"
                                 : "/tasks";
    if (args["tasks"].is_array()) {
      for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
        try {
          proto->validate_task(plan.tasks[i]);
        } catch (const ConfigError& e) {
          throw ConfigError(std::string("task ") + std::to_string(i) + ": " + e.what(),
                            base + pointer_index(i) + e.pointer());
        }
      }
    } else {
      for (std::size_t i = 0; i < plan.tasks.size(); ++i) proto->validate_task(plan.tasks[i]);
    }
    try {
      proto->validate_list(plan.tasks, plan.host);
    } catch (const ConfigError& e) {
      throw ConfigError(e.what(), base + e.pointer());
    }
    return plan;
  };
  r.add(Command{
      "LD_start_test",
      "Run a load test: users, spawn rate, duration and the task list each user loops over.",
      start_test_params(),
      [this, validate_start](const Json& args) -> Json {
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
        engine::PlanConfig plan = validate_start(a);
        const engine::Protocol* proto = protocols_.find(plan.user_type);
        std::vector<Json> resolved;
        for (const auto& t : plan.tasks) resolved.push_back(params::resolve_json(t, resolver_));
        engine::NameTable names;
        const std::string host =
            plan.host.empty() ? "" : params::resolve_static(plan.host, resolver_);
        engine::CompileContext cctx{resolver_, names, host, a};
        std::unique_ptr<engine::CompiledTasks> compiled;
        try {
          compiled = proto->compile(resolved, cctx);
        } catch (const ConfigError& e) {
          const std::string base = a["tasks"].is_object() && a["tasks"].contains("tasks")
                                       ? "/tasks/tasks"
                                       : "/tasks";
          throw ConfigError(e.what(), base + e.pointer());
        }
        engine::Scheduler scheduler(plan, *compiled, names);
        std::unique_ptr<engine::ProgressSink> progress;
        if (options_.progress) progress = engine::make_terminal_progress(err_);
        engine::RunOutcome outcome = scheduler.run(interrupted_, progress.get());
        metrics_.absorb(outcome.metrics);
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
                    {"stop_reason", outcome.stop_reason}};
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
                  return {{"status", "cleared"}};
                }});

  // ---- nesting
  r.add(Command{"LD_execute_action", "Run a nested action list.",
                {{"action_list", A::kArray | A::kObject, true, nullptr, "actions"}},
                [this](const Json& a) -> Json {
                  if (depth_ >= 16) throw ConfigError("actions nested more than 16 levels deep");
                  ++depth_;
                  struct Leave {
                    int& d;
                    ~Leave() { --d; }
                  } leave{depth_};
                  auto doc = action::parse_document_json(a["action_list"], "LD_execute_action");
                  auto rep = execute(doc);
                  if (rep.failed) {
                    throw std::runtime_error(std::to_string(rep.failed) + " nested action(s) failed");
                  }
                  return rep.results;
                }});
  r.add(Command{"LD_execute_files", "Run action files in order.",
                {{"execute_files_list", A::kArray, true, nullptr, "paths"}},
                [this](const Json& a) -> Json {
                  if (depth_ >= 16) throw ConfigError("actions nested more than 16 levels deep");
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
                  if (failed) throw std::runtime_error(std::to_string(failed) + " action(s) failed");
                  return out;
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
       {"udp_port", A::kInteger, false, 0, "UDP echo port (0 picks a free port)"}},
      [this](const Json& a) -> Json {
        if (target_ && target_->running()) throw std::runtime_error("the target is already running");
        target::TargetOptions o;
        o.host = a["host"].get<std::string>();
        o.port = static_cast<std::uint16_t>(a["port"].get<int>());
        o.threads = static_cast<unsigned>(std::max(1, a["threads"].get<int>()));
        o.tcp_port = static_cast<std::uint16_t>(a["tcp_port"].get<int>());
        o.udp_port = static_cast<std::uint16_t>(a["udp_port"].get<int>());
        target_ = std::make_unique<target::EmbeddedTarget>(o);
        target_->start();
        // ${target} = http://H:P, ${target_ws} = ws://H:P/ws, ${target_tcp} / ${target_udp} = H:P
        const std::string var = a["variable"].get<std::string>();
        resolver_.set_variable(var, target_->base_url());
        resolver_.set_variable(var + "_ws", target_->ws_url());
        resolver_.set_variable(var + "_tcp", target_->tcp_address());
        resolver_.set_variable(var + "_udp", target_->udp_address());
        return {{"url", target_->base_url()}, {"port", target_->port()},
                {"ws", target_->ws_url()},     {"tcp", target_->tcp_address()},
                {"udp", target_->udp_address()}};
      }});
  r.add(Command{"LD_stop_target", "Stop the embedded target.", {}, [this](const Json&) -> Json {
                  if (target_) target_->stop();
                  target_.reset();
                  return {{"status", "stopped"}};
                }});

  r.add(Command{"LD_list_commands", "List every command.", {},
                [this](const Json&) -> Json { return registry_.names(); }});
}

}  // namespace ld::app
