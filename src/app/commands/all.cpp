#include "app/commands/commands.hpp"

namespace ld::app {

void register_all_commands(action::CommandRegistry& r, App& app) {
  register_test_commands(r, app);
  register_variable_commands(r, app);
  register_source_commands(r, app);
  register_result_commands(r, app);
  register_control_commands(r, app);
  register_target_commands(r, app);
  register_reliability_commands(r, app);
  register_report_commands(r, app);
  register_exporter_commands(r, app);
  register_serve_commands(r, app);
  register_dashboard_commands(r, app);
  register_notifier_commands(r, app);
  register_builtin_commands(r, app);
  register_importer_commands(r, app);
  register_tooling_commands(r, app);
  register_auth_commands(r, app);
  register_plugin_commands(r, app);  // last: a plugin's names meet every other name
}

}  // namespace ld::app
