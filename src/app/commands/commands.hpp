#pragma once
// The LD_* commands, grouped in modules by area. Each module registers its own commands on
// the App's registry (which rejects a name registered twice, at start-up) and reaches the
// App's session, runner and report state through the App it is given.
#include <iosfwd>
#include <string>
#include <vector>

#include "importers/importers.hpp"
#include "loaddensity/core/json.hpp"

namespace ld::action {
class CommandRegistry;
}
namespace ld::engine {
struct RunOutcome;
}

namespace ld::app {

class App;

void register_test_commands(action::CommandRegistry& r, App& app);         // LD_start_test
void register_variable_commands(action::CommandRegistry& r, App& app);     // variables, seed
void register_source_commands(action::CommandRegistry& r, App& app);       // CSV / DB sources
void register_result_commands(action::CommandRegistry& r, App& app);       // summary, clear
void register_control_commands(action::CommandRegistry& r, App& app);      // nesting, listing
void register_target_commands(action::CommandRegistry& r, App& app);       // embedded target
void register_reliability_commands(action::CommandRegistry& r, App& app);  // budget, conditioner
void register_report_commands(action::CommandRegistry& r, App& app);       // reports, gates
void register_exporter_commands(action::CommandRegistry& r, App& app);     // live exporters
void register_serve_commands(action::CommandRegistry& r, App& app);        // control socket
void register_dashboard_commands(action::CommandRegistry& r, App& app);    // live dashboard
void register_notifier_commands(action::CommandRegistry& r, App& app);     // Slack, Teams
void register_builtin_commands(action::CommandRegistry& r, App& app);      // print, len, ...
void register_plugin_commands(action::CommandRegistry& r, App& app);       // LD_load_plugin
void register_importer_commands(action::CommandRegistry& r, App& app);     // HAR, Postman, ...
void register_tooling_commands(action::CommandRegistry& r, App& app);      // lint, schema
void register_auth_commands(action::CommandRegistry& r, App& app);         // JWT, SigV4, OAuth2

// LD_start_test with runner_mode "worker" (or under `loaddensity worker`): runs the test as
// a Locust-protocol worker of a master (src/app/commands/distributed.cpp). `args` is
// LD_start_test's, completed with the CLI's defaults.
Json start_test_as_worker(App& app, Json args);
// LD_start_test with runner_mode "master" (or under `loaddensity master`): drives Locust-protocol
// workers and folds their merged results into the session (src/app/commands/distributed.cpp).
Json start_test_as_master(App& app, Json args);
// After a run of LD_start_test: the record-sampling note, the end-of-test table (unless quiet),
// and Interrupted when Ctrl-C stopped it.
void end_of_run(App& app, const engine::RunOutcome& outcome);

// `loaddensity import FORMAT FILE`: converts FILE (a cURL command line: "-" reads stdin) and
// prints the document (or writes it to `output`), warnings on `err`. Throws ConfigError.
struct ImportRequest {
  std::string format, file, output, base_url;
  std::vector<std::string> include, exclude;
  importers::DocumentOptions document;
};
int import_file(const ImportRequest& req, std::ostream& out, std::ostream& err);

// Every module above.
void register_all_commands(action::CommandRegistry& r, App& app);

}  // namespace ld::app
