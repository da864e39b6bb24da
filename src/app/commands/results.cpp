// Results kept by the session: LD_summary, LD_generate_summary_report, LD_clear_records.
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include "stats/record_log.hpp"
#include "summary/summary.hpp"

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;

void register_result_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{"LD_summary",
                "Return the summary of every test since the last clear.",
                {},
                [&app](const Args&) -> Json { return reports::build_summary(app.metrics_); }});
  r.add(Command{"LD_generate_summary_report",
                "Write the summary JSON (totals, latency_overall, per_name) to <report_name>.json.",
                {{"report_name", A::kString, false, "loaddensity-summary", ""}},
                [&app](const Args& a) -> Json {
                  return reports::write_summary_report(app.metrics_, a.str("report_name"));
                }});
  r.add(Command{
      "LD_clear_records", "Forget every result recorded so far.", {}, [&app](const Args&) -> Json {
        app.metrics_.clear();
        if (app.record_log_) app.record_log_->clear();
        app.sla_results_ = nullptr;
        return {{"status", "cleared"}};
      }});
}

}  // namespace ld::app
