// LD_start_test: the CLI side of a test run (the TestRunner does the rest).
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <memory>
#include <ostream>

#include "engine/plan.hpp"
#include "engine/progress.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/stats/record.hpp"
#include "summary/summary.hpp"

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;

namespace {

// The LD_start_test parameters, in the original's positional order.
std::vector<Param> start_test_params() {
  return {
      {"user_detail_dict", A::kObject, true, nullptr, "{\"user\": \"fast_http_user\"}"},
      {"user_count", A::kInteger, false, 50, "number of virtual users"},
      {"spawn_rate", A::kNumber, false, 10, "users started per second"},
      {"test_time", A::kNumber | A::kNull, false, 60, "seconds; null runs until stopped"},
      {"web_ui_dict", A::kObject | A::kNull, false, nullptr, ""},
      {"runner_mode", A::kString, false, "local",
       "local; worker: a Locust master drives the users; master: drive Locust-protocol "
       "workers (docs/distributed.md)"},
      {"master_bind_host", A::kString, false, "*", "runner_mode master: the address to listen on"},
      {"master_bind_port", A::kInteger, false, 5557, "runner_mode master: the port to listen on"},
      {"master_host", A::kString, false, "127.0.0.1", "runner_mode worker: the master's address"},
      {"master_port", A::kInteger, false, 5557, "runner_mode worker: the master's port"},
      {"expected_workers", A::kInteger, false, 0,
       "runner_mode master: workers to wait for before spawning"},
      {"worker_startup_timeout", A::kNumber, false, 60,
       "runner_mode master: seconds to wait for expected_workers"},
      {"worker_lost_timeout", A::kNumber, false, 15,
       "runner_mode master: seconds without a message before a worker is missing"},
      {"tasks", A::kArray | A::kObject, true, nullptr, "the task list"},
      {"host", A::kString | A::kNull, false, nullptr, "base URL for relative task URLs"},
      {"variables", A::kObject | A::kNull, false, nullptr, "variables registered before the run"},
      {"csv_sources", A::kArray | A::kNull, false, nullptr, ""},
      {"load_shape", A::kString | A::kNull, false, nullptr, ""},
      {"shape_config", A::kObject | A::kNull, false, nullptr, ""},
      {"threads", A::kInteger | A::kNull, false, nullptr, "worker threads (default: cores)"},
      {"hard_timeout", A::kNumber | A::kNull, false, nullptr,
       "watchdog: seconds before a hung run is ended"},
      {"graceful_stop", A::kNumber | A::kNull, false, nullptr,
       "seconds in-flight requests may finish after test_time before they are aborted (30)"},
      {"bootstrap_servers", A::kAny, false, nullptr,
       "kafka_user brokers, \"host:port,...\" or a list (default localhost:9092)"},
      {"record_log_max_mb", A::kInteger | A::kNull, false, nullptr,
       "disk cap of this run's per-request records in MiB (default 1024; 0 = no cap); past "
       "it the records are sampled"},
      {"record_bodies", A::kBool | A::kInteger | A::kNull, false, nullptr,
       "per-request records keep each success's body and headers: true = the first 4096 bytes "
       "of each, a number = that many bytes (1-16384); failures always keep 1 KiB"},
  };
}

}  // namespace

void end_of_run(App& app, const engine::RunOutcome& outcome) {
  if (const std::uint64_t every =
          outcome.metrics.runs.empty() ? 1 : outcome.metrics.runs.back().records_sample_every;
      every > 1) {
    app.err_ << "note: the per-request record log reached record_log_max_mb; per-request "
                "reports of this run list a sample (down to 1 in "
             << every << " requests); aggregates are exact\n";
  }
  if (!app.options_.quiet) {
    app.out_ << '\n';
    reports::print_table(outcome.metrics, app.out_);
    app.out_ << '\n';
  }
  if (outcome.stop_reason == "interrupted") throw Interrupted();
}

void register_test_commands(action::CommandRegistry& r, App& app) {
  auto validate_start = [&app](const Args& args) {
    if (app.checking_ && args["csv_sources"].is_array()) {
      app.check_csv_list(args["csv_sources"], "/csv_sources");
    }
    if (const std::int64_t cap = args.integer("record_log_max_mb");
        args.has("record_log_max_mb") && (cap < 0 || cap > (1 << 30))) {
      throw ConfigError("record_log_max_mb must be from 0 (no cap) to 1073741824 MiB, got " +
                            args["record_log_max_mb"].dump(),
                        "/record_log_max_mb");
    }
    if (const Json& b = args["record_bodies"];
        b.is_number_integer() &&
        (b.get<std::int64_t>() < 1 ||
         b.get<std::int64_t>() > static_cast<std::int64_t>(stats::kRecordBodiesMax))) {
      throw ConfigError("record_bodies must be true, false or a byte count from 1 to 16384, got " +
                            b.dump(),
                        "/record_bodies");
    }
    engine::PlanConfig plan = app.runner_.check(args);
    app.check_csv_columns(args["tasks"], "/tasks");
    return plan;
  };
  r.add(Command{
      "LD_start_test",
      "Run a load test: users, spawn rate, duration and the task list each user loops over.",
      [&app] {
        // The engine's options, then every protocol's own (declared by the protocol).
        auto params = start_test_params();
        for (auto& o : app.protocols_.options()) params.push_back(std::move(o));
        return params;
      }(),
      [&app](const Args& args) -> Json {
        Json a = args.json();  // completed below with the CLI's defaults
        if (a["threads"].is_null() && app.options_.threads) a["threads"] = app.options_.threads;
        if (a["io_backend"].is_null() && !app.options_.io_backend.empty()) {
          a["io_backend"] = app.options_.io_backend;
        }
        if (a["web_ui_dict"].is_object()) {
          app.err_
              << "note: web_ui_dict is accepted for compatibility; this build shows progress on "
                 "the terminal instead of a web UI\n";
        }
        if (a["variables"].is_object()) {
          for (auto it = a["variables"].begin(); it != a["variables"].end(); ++it) {
            app.resolver_.set_variable(it.key(), json_display(it.value()));
          }
        }
        if (a["csv_sources"].is_array()) app.register_csv_sources(a["csv_sources"], "/csv_sources");
        if (a["hard_timeout"].is_null() && app.options_.hard_timeout_s > 0) {
          a["hard_timeout"] = app.options_.hard_timeout_s;
        }
        app.check_csv_columns(a["tasks"], "/tasks");  // the runner checks everything else
        if (app.options_.worker.on || a["runner_mode"] == "worker") {
          return start_test_as_worker(app, std::move(a));
        }
        if (app.options_.master.on || a["runner_mode"] == "master") {
          return start_test_as_master(app, std::move(a));
        }
        std::unique_ptr<engine::ProgressSink> progress;
        if (app.options_.progress) progress = engine::make_terminal_progress(app.err_);
        const RunResult result = app.runner_.run(
            a, app.session_, RunControls{&app.interrupted_, progress.get(), &app.live_feed_});
        const engine::PlanConfig& plan = result.plan;
        const engine::RunOutcome& outcome = result.outcome;
        end_of_run(app, outcome);
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
      [validate_start](const Args& args) { validate_start(args); }, true});
}

}  // namespace ld::app
