// LD_start_test as a Locust-protocol worker: connect to the master, run a test each time it
// spawns users (the user count follows the master), until it quits or disappears.
#include <memory>
#include <ostream>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
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
      worker.run_ended();
      throw;
    }
    worker.run_ended();
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
