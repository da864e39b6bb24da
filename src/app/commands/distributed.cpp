// LD_start_test as a Locust-protocol worker (connect to the master, run a test each time it
// spawns users, until it quits or disappears) or master (drive the workers, fold their merged
// results into the session).
#include <algorithm>
#include <memory>
#include <ostream>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "distributed/master.hpp"
#include "distributed/worker.hpp"
#include "engine/progress.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

Json start_test_as_worker(App& app, Json a) {
  const Options::Worker& cli = app.options_.worker;
  distributed::WorkerOptions o;
  o.master_host = cli.on ? cli.master_host : a.value("master_host", std::string("127.0.0.1"));
  o.master_port = cli.on ? cli.master_port : a.value("master_port", 5557);
  o.heartbeat_timeout_s = cli.heartbeat_timeout_s;
  if (o.master_port < 1 || o.master_port > 65535) {
    throw ConfigError("master_port must be from 1 to 65535", "/master_port");
  }
  if (!a["load_shape"].is_null()) {
    throw ConfigError(
        "runner_mode \"worker\": the master sets the user count; a worker takes "
        "no load_shape",
        "/load_shape");
  }
  const Json& lc = a["user_detail_dict"].value("locust_class", Json());
  if (lc.is_string()) o.classes.push_back(lc.get<std::string>());
  if (lc.is_array()) {
    for (const auto& c : lc) o.classes.push_back(c.get<std::string>());
  }
  o.max_users = a["user_count"].is_number() ? a["user_count"].get<std::uint32_t>() : 50;
  a["runner_mode"] = "local";  // each run is an ordinary local run driven by the master
  a["test_time"] = nullptr;    // the master decides when a run ends

  distributed::Worker worker(o, app.live_feed_);
  app.err_ << "worker " << worker.node_id() << ": connecting to the Locust master at "
           << o.master_host << ':' << o.master_port << '\n';
  worker.connect(app.interrupted_);
  auto print_notes = [&] {
    for (const auto& n : worker.take_notes()) app.err_ << "warning: " << n << '\n';
  };
  std::uint64_t runs = 0, requests = 0, failures = 0;
  std::string last_stop;
  for (;;) {
    const distributed::MasterCommand cmd = worker.wait(app.interrupted_);
    print_notes();
    if (cmd == distributed::MasterCommand::kInterrupted) throw Interrupted();
    if (cmd == distributed::MasterCommand::kQuit) break;
    if (cmd == distributed::MasterCommand::kLost) {
      throw std::runtime_error("lost the master: " + worker.lost_reason() +
                               "; the worker stopped its test");
    }
    std::unique_ptr<engine::ProgressSink> progress;
    if (app.options_.progress) progress = engine::make_terminal_progress(app.err_);
    RunResult result;
    try {
      result = app.runner_.run(
          a, app.session_,
          RunControls{&app.interrupted_, progress.get(), &app.live_feed_, &worker.target()});
    } catch (const std::exception& e) {
      worker.send_exception(e.what(), "");
      worker.run_ended(nullptr);
      throw;
    }
    worker.run_ended(&result.outcome.metrics);
    const engine::RunOutcome& outcome = result.outcome;
    ++runs;
    requests += outcome.metrics.requests();
    failures += outcome.metrics.failures();
    last_stop = outcome.stop_reason;
    end_of_run(app, outcome);  // the table; Ctrl-C ends the worker
  }
  return Json{{"user_detail", a["user_detail_dict"]},
              {"runner_mode", "worker"},
              {"master", o.master_host + ":" + std::to_string(o.master_port)},
              {"runs", runs},
              {"requests", requests},
              {"failures", failures},
              {"stop_reason", last_stop}};
}

}  // namespace ld::app

namespace ld::app {

Json start_test_as_master(App& app, Json a) {
  const Options::Master& cli = app.options_.master;
  distributed::MasterOptions o;
  o.bind_host =
      !cli.bind_host.empty() ? cli.bind_host : a.value("master_bind_host", std::string("*"));
  o.bind_port = cli.bind_port > 0 ? cli.bind_port : a.value("master_bind_port", 5557);
  const long long expected =
      cli.expected_workers >= 0 ? cli.expected_workers : a.value("expected_workers", 0LL);
  if (o.bind_port < 1 || o.bind_port > 65535) {
    throw ConfigError("master_bind_port must be from 1 to 65535", "/master_bind_port");
  }
  if (expected < 0 || expected > 100000) {
    throw ConfigError("expected_workers must be from 0 to 100000", "/expected_workers");
  }
  o.expected_workers = static_cast<std::uint32_t>(expected);
  for (const char* f : {"worker_startup_timeout", "worker_lost_timeout"}) {
    const Json& v = a[f];
    if (!v.is_null() && (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 86400)) {
      throw ConfigError(std::string(f) + " must be a number of seconds from 0 to 86400",
                        std::string("/") + f);
    }
  }
  if (a["worker_startup_timeout"].is_number()) {
    o.startup_timeout_s = a["worker_startup_timeout"].get<double>();
  }
  if (a["worker_lost_timeout"].is_number()) {
    o.heartbeat_timeout_s = a["worker_lost_timeout"].get<double>();
  }
  const engine::PlanConfig plan = app.runner_.check(a);
  if (plan.shape || plan.pacer) {
    throw ConfigError(
        "runner_mode \"master\": the master drives a constant user count over its workers; a "
        "load_shape or the open model is not distributed",
        plan.shape ? "/load_shape" : "/tasks");
  }
  o.users = plan.users;
  o.spawn_rate = plan.spawn_rate;
  o.test_time_s = plan.test_time_s > 0 ? plan.test_time_s : 0;
  o.stop_timeout_s = plan.graceful_stop_s + 15;  // the workers' graceful stop, then their report
  if (a["host"].is_string()) o.host = a["host"].get<std::string>();
  const Json& lc = a["user_detail_dict"].value("locust_class", Json());
  o.classes.clear();
  if (lc.is_string()) o.classes.push_back(lc.get<std::string>());
  if (lc.is_array()) {
    for (const auto& c : lc) {
      if (!c.is_string()) {
        throw ConfigError("locust_class must be a class name or a list of names",
                          "/user_detail_dict/locust_class");
      }
      o.classes.push_back(c.get<std::string>());
    }
  }
  if (o.classes.empty()) o.classes.push_back("LoadDensityUser");

  distributed::Master master(o, [&app](const std::string& line) {
    app.err_ << "master: " << line << '\n';
    app.err_.flush();
  });
  master.bind();
  app.err_ << "master: listening on " << master.endpoint() << ", waiting for "
           << std::max<std::uint32_t>(1, o.expected_workers) << " worker(s)\n";
  distributed::MasterResult r = master.run(app.interrupted_);
  engine::RunOutcome outcome{std::move(r.metrics), r.stop_reason};
  app.session_.metrics.absorb(outcome.metrics);
  Json workers = Json::array();
  for (const auto& w : r.workers) {
    Json j{{"node_id", w.node_id},
           {"requests", w.requests},
           {"failures", w.failures},
           {"full_results", w.full_results}};
    if (w.missing) {
      j["missing_at"] = w.missing_at;
      j["missing_after_s"] = w.missing_after_s;
    }
    workers.push_back(std::move(j));
  }
  const bool all_gone = r.stop_reason == "no_workers";
  end_of_run(app, outcome);
  if (all_gone) {
    throw std::runtime_error("every worker went missing or quit; the master stopped the test");
  }
  return Json{{"user_detail", a["user_detail_dict"]},
              {"user_count", plan.users},
              {"spawn_rate", plan.spawn_rate},
              {"test_time", a["test_time"]},
              {"web_ui", a["web_ui_dict"]},
              {"runner_mode", "master"},
              {"requests", outcome.metrics.requests()},
              {"failures", outcome.metrics.failures()},
              {"stop_reason", outcome.stop_reason},
              {"workers", std::move(workers)},
              {"worker_exceptions", r.exceptions},
              {"notes", outcome.metrics.runs.back().notes}};
}

}  // namespace ld::app
