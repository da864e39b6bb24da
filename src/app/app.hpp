#pragma once
// The composition root: the one place that wires the registry, the protocols, the resolver,
// the metrics, the reports and the embedded target together.
#include <atomic>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "action/executor.hpp"
#include "action/registry.hpp"
#include "app/commands/commands.hpp"
#include "app/test_runner.hpp"
#include "core/json_util.hpp"
#include "engine/scheduler.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "loaddensity/stats/live.hpp"
#include "loaddensity/stats/metrics.hpp"
#include "params/resolver.hpp"

namespace ld::target {
class EmbeddedTarget;
}
namespace ld::stats {
class RecordLog;
class RecordLogRun;
}
namespace ld::engine {
class NameTable;
}
namespace ld::exporters {
struct Running;
}
namespace ld::dashboard {
class Dashboard;
struct Options;
}

namespace ld::app {

struct Options {
  bool quiet = false;         // no per-action lines
  bool progress = false;      // live progress line (a terminal)
  unsigned threads = 0;       // default worker threads for LD_start_test (0 = one per core)
  double hard_timeout_s = 0;  // default watchdog for LD_start_test (0 = none)
  std::string csv_prefix;     // --csv: Locust-compatible CSVs written after the run
  std::string io_backend;     // --io-backend: LD_start_test io_backend when a test sets none
  std::string command_line;   // shown in report headers
  // `loaddensity worker`: every LD_start_test runs as a Locust-protocol worker of this master.
  struct Worker {
    bool on = false;
    std::string master_host = "127.0.0.1";
    int master_port = 5557;
    double heartbeat_timeout_s = 60;  // a master gone this long ends the worker
  } worker;
  std::vector<std::string> plugins;  // --plugin: libraries every App registers (docs/plugins.md)
  bool load_plugins = true;          // LD_load_plugin allowed (not in `serve` sessions)
  // `loaddensity master`: every LD_start_test runs as a Locust-protocol master; the fields
  // given on the command line override the document's.
  struct Master {
    bool on = false;
    std::string bind_host;      // "" = the document's
    int bind_port = 0;          // 0 = the document's
    int expected_workers = -1;  // -1 = the document's
  } master;
};

class App {
 public:
  // `shared_runner`: run tests through that runner instead of one of this App's own (the
  // sessions of `serve` share their server's runner, so one test runs at a time).
  App(std::ostream& out, std::ostream& err, Options options, TestRunner* shared_runner = nullptr);
  ~App();

  action::CommandRegistry& registry() noexcept { return registry_; }
  const engine::ProtocolRegistry& protocols() const noexcept { return protocols_; }
  // Checks and runs a document. Throws ConfigError when the document does not pass the
  // static check (nothing ran).
  // `check_first` false: the caller checked it already (with check() or as part of its parent).
  // `keep_results` false: the report carries counts only (top-level documents).
  action::ExecutionReport execute(const action::Document& doc, bool check_first = true,
                                  bool keep_results = true);
  // The static check of a whole document (nested action lists and the files of data sources
  // with literal paths included). Throws ConfigError; nothing runs.
  void check(const action::Document& doc);

  std::atomic<bool>& interrupt_flag() noexcept { return interrupted_; }
  stats::Metrics& metrics() noexcept { return metrics_; }

  // Reports and gates (src/app/report_commands.cpp).
  // Before anything runs: keeps a per-request record log when a document (or a nested one)
  // has a command that needs records, or when --csv was given. Plain runs keep none.
  void prepare(const std::vector<action::Document>& docs);
  bool record_log_enabled() const noexcept { return record_log_ != nullptr; }
  // True once an LD_assert_sla failed (exit code kExitGateFailed).
  bool gate_failed() const noexcept { return gate_failed_; }
  // The --csv files, after the documents ran. Returns the paths.
  std::vector<std::string> write_csv_option();

  // Starts the live dashboard (replacing a running one) on this App's live feed; returns its
  // URL. Throws std::runtime_error when the address cannot be bound (commands/dashboard.cpp).
  std::string start_dashboard(const dashboard::Options& o);

 private:
  // The command modules (src/app/commands/) work on the App's state.
  friend void register_test_commands(action::CommandRegistry&, App&);
  friend void register_variable_commands(action::CommandRegistry&, App&);
  friend void register_source_commands(action::CommandRegistry&, App&);
  friend void register_result_commands(action::CommandRegistry&, App&);
  friend void register_control_commands(action::CommandRegistry&, App&);
  friend void register_target_commands(action::CommandRegistry&, App&);
  friend void register_reliability_commands(action::CommandRegistry&, App&);
  friend void register_report_commands(action::CommandRegistry&, App&);
  friend void register_exporter_commands(action::CommandRegistry&, App&);
  friend Json start_test_as_worker(App&, Json);
  friend Json start_test_as_master(App&, Json);
  friend void end_of_run(App&, const engine::RunOutcome&);
  friend void register_serve_commands(action::CommandRegistry&, App&);
  friend void register_dashboard_commands(action::CommandRegistry&, App&);
  friend void register_notifier_commands(action::CommandRegistry&, App&);
  friend void register_builtin_commands(action::CommandRegistry&, App&);
  friend void register_plugin_commands(action::CommandRegistry&, App&);

  Json register_csv_sources(const Json& list, const std::string& pointer);
  // Static checks of CSV sources: a literal path is read and parsed now (placeholders wait).
  void check_csv_list(const Json& list, const std::string& pointer);
  void check_csv_file(const Json& name, const Json& path, const Json& cycle,
                      const std::string& pointer);
  // ${csv.NAME.COL} in `value` where NAME was registered (statically) without COL: ConfigError.
  void check_csv_columns(const Json& value, const std::string& pointer) const;
  // Loads a CSV at run time (${...} in the path resolved now); a failure marks the source
  // failed in the resolver.
  std::shared_ptr<params::DataSource> load_csv(const std::string& name, const std::string& path,
                                               bool cycle);
  Json register_db_source(const Json& args, const std::string& pointer);
  bool needs_records(const action::Document& doc, int depth) const;
  // The record log of the next run (nullptr when the log is off).
  stats::RecordLogRun* begin_record_run(const engine::NameTable& names, std::uint64_t max_bytes,
                                        std::size_t body_cap);

  std::ostream& out_;
  std::ostream& err_;
  Options options_;
  action::CommandRegistry registry_;
  engine::ProtocolRegistry protocols_;
  // The CLI's one session: what its tests read and write (the commands below use the aliases).
  TestSession session_;
  std::unique_ptr<TestRunner> own_runner_;  // null when the App uses a shared runner
  TestRunner& runner_;
  params::Resolver& resolver_ = session_.resolver;
  stats::Metrics& metrics_ = session_.metrics;
  std::optional<engine::FailureBudget>& failure_budget_ = session_.failure_budget;
  std::optional<engine::NetworkConditioner>& conditioner_ = session_.conditioner;
  // Live snapshots of every test this App runs (kept between runs: the latest is the last
  // run's final snapshot). Exporters, the dashboard and a distributed worker read it or
  // observe it.
  stats::LiveFeed live_feed_;
  // The exporters observing live_feed_ (declared after it: they stop first).
  std::unique_ptr<exporters::Running> exporters_;
  std::unique_ptr<dashboard::Dashboard> dashboard_;  // observes live_feed_: declared after it
  std::unique_ptr<target::EmbeddedTarget> target_;
  std::atomic<bool> interrupted_{false};
  int depth_ = 0;  // nesting of LD_execute_action / LD_execute_files
  int check_depth_ = 0;  // nesting of LD_execute_files while checking
  // While checking: the header of each CSV source registered with a literal path so far.
  std::map<std::string, std::vector<std::string>> static_csv_columns_;
  int checking_ = 0;                   // > 0 while a static check runs
  // A data file path as given, or relative to the running document when only that exists.
  std::string data_path(const std::string& path) const;
  std::unique_ptr<stats::RecordLog> record_log_;  // per-request records, when asked for
  Json sla_results_;                              // the last SLA evaluation (null: none)
  bool gate_failed_ = false;
};

// Exit codes, documented in the README.
constexpr int kExitOk = 0;
constexpr int kExitActionFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitGateFailed = 3;  // an LD_assert_sla failed / `diff` found a regression
constexpr int kExitInterrupted = 130;

}  // namespace ld::app
