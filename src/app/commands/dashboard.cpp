// The live dashboard: LD_start_dashboard, LD_stop_dashboard (and `run --dashboard [ADDR]`).
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <ostream>

#include "dashboard/dashboard.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;

std::string App::start_dashboard(const dashboard::Options& o) {
  if (dashboard_) dashboard_->stop();  // replaces a running dashboard, as the original
  dashboard_.reset();
  dashboard_ = std::make_unique<dashboard::Dashboard>(live_feed_, o);
  return dashboard_->url();
}

void register_dashboard_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{
      "LD_start_dashboard",
      "Serve the live dashboard (requests/s, failures, latency, users, per-name table, errors) "
      "at http://host:port/; replaces a running one.",
      {{"host", A::kString, false, "127.0.0.1", "listen address"},
       {"port", A::kInteger, false, 8765, "0 picks a free port"},
       {"refresh_seconds", A::kNumber, false, 1.0, "at most one update per this many seconds"},
       {"window_seconds", A::kNumber, false, 10.0, "requests/s shown = over the last this many"}},
      [&app](const Args& a) -> Json {
        dashboard::Options o;
        o.host = a.str("host");
        o.port = static_cast<std::uint16_t>(a.integer("port"));
        o.refresh_s = a.number("refresh_seconds");
        o.window_s = a.number("window_seconds");
        const std::string url = app.start_dashboard(o);
        return {{"url", url}, {"port", app.dashboard_->port()}};
      },
      [](const Args& a) {
        number_in_range(a["port"], "port", 0, 65535, false, "/port", "(0 picks a free port)");
        number_in_range(a["refresh_seconds"], "refresh_seconds", 0, 3600, true, "/refresh_seconds",
                        "seconds");
        number_in_range(a["window_seconds"], "window_seconds", 0, 86400, true, "/window_seconds",
                        "seconds");
      }});
  r.add(Command{"LD_stop_dashboard", "Stop the live dashboard.", {}, [&app](const Args&) -> Json {
                  if (app.dashboard_) app.dashboard_->stop();
                  app.dashboard_.reset();
                  return {{"status", "stopped"}};
                }});
}

}  // namespace ld::app
