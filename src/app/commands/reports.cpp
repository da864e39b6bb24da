// Report, run-history and gate commands: the seed's LD_generate_*, LD_persist_records,
// LD_list_runs, LD_fetch_run_records, LD_diff_runs, LD_evaluate_sla, LD_assert_sla and
// LD_emit_github_annotations, plus LD_generate_locust_csv and LD_generate_chart_report.
#include <ctime>
#include <ostream>
#include <sstream>

#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "charts/svg_charts.hpp"
#include "csv/records_csv.hpp"
#include "html/html_report.hpp"
#include "json/records_json.hpp"
#include "junit/junit_report.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "locust/locust_csv.hpp"
#include "sla/annotations.hpp"
#include "sla/sla.hpp"
#include "sqlite/run_store.hpp"
#include "stats/record_log.hpp"
#include "summary/summary.hpp"
#include "xml/records_xml.hpp"

namespace ld::app {

namespace {
// A count argument (already type-checked as an integer) as a non-negative number that cannot
// wrap: negative counts are 0, and anything past 2^53 is 2^53.
std::uint64_t count_arg(const Json& v) {
  const double d = v.get<double>();
  if (!(d > 0)) return 0;
  return d >= 9007199254740992.0 ? 9007199254740992ull : static_cast<std::uint64_t>(d);
}
}  // namespace

using action::Args;
using action::Command;
namespace A = action;

namespace {

std::string local_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Json paths_json(const std::vector<std::string>& paths) {
  Json out = Json::array();
  for (const auto& p : paths) out.push_back(p);
  return out;
}

// Runs a run-store call, turning its errors into bad-input errors that name the argument.
template <class F>
Json store_call(F&& f) {
  try {
    return f();
  } catch (const reports::RunStoreError& e) {
    throw ConfigError(e.what(), "/" + e.field());
  }
}

void check_rules(const Json& args) {
  if (!args.contains("rules")) return;
  try {
    reports::validate_sla_rules(args["rules"]);
  } catch (const ConfigError& e) {
    throw e.under("/rules");
  }
}

}  // namespace

void register_report_commands(action::CommandRegistry& r, App& app) {
  auto html_context = [&app] {
    reports::HtmlContext ctx;
    ctx.command = app.options_.command_line;
    ctx.generated_at = local_now();
    ctx.version = std::string("v") + LD_VERSION;
    ctx.sla_results = app.sla_results_.is_array() ? &app.sla_results_ : nullptr;
    ctx.log = app.record_log_.get();
    return ctx;
  };

  Command html{"LD_generate_html",
               "Return the HTML report as a string.",
               {},
               [&app, html_context](const Args&) -> Json {
                 if (app.metrics_.empty())
                   throw std::runtime_error("nothing to report: no test has run");
                 std::ostringstream o;
                 reports::write_html(o, app.metrics_, html_context());
                 return o.str();
               }};
  html.needs_records = true;
  r.add(html);
  Command html_report{
      "LD_generate_html_report",
      "Write <html_name>.html: totals, SLA, charts, per-name percentiles, errors, failed requests.",
      {{"html_name", A::kString, false, "default_name", "file name without .html"}},
      [&app, html_context](const Args& a) -> Json {
        return reports::write_html_report(app.metrics_, html_context(), a.str("html_name"));
      }};
  html_report.needs_records = true;
  r.add(html_report);

  Command json{"LD_generate_json",
               "Return [success_dict, failure_dict] of the first `limit` requests each.",
               {{"limit", A::kInteger, false, 1000, "entries per dict"}},
               [&app](const Args& a) -> Json {
                 return reports::records_json_value(
                     app.record_log_.get(), static_cast<std::size_t>(count_arg(a["limit"])));
               }};
  json.needs_records = true;
  r.add(json);
  Command json_report{"LD_generate_json_report",
                      "Write <json_file_name>_success.json and _failure.json (every request).",
                      {{"json_file_name", A::kString, false, "default_name", ""}},
                      [&app](const Args& a) -> Json {
                        auto [ok, fail] = reports::write_json_report(app.record_log_.get(),
                                                                     a.str("json_file_name"));
                        return Json::array({ok, fail});
                      }};
  json_report.needs_records = true;
  r.add(json_report);
  Command xml{"LD_generate_xml",
              "Return [success_xml, failure_xml] of the first `limit` requests each.",
              {{"limit", A::kInteger, false, 1000, "entries per document"}},
              [&app](const Args& a) -> Json {
                if (!app.record_log_ || app.record_log_->records() == 0) {
                  throw std::runtime_error("no records to report: no request was recorded");
                }
                const auto limit = count_arg(a["limit"]);
                std::ostringstream ok, fail;
                reports::write_records_xml(ok, app.record_log_.get(), false, limit);
                reports::write_records_xml(fail, app.record_log_.get(), true, limit);
                return Json::array({ok.str(), fail.str()});
              }};
  xml.needs_records = true;
  r.add(xml);
  Command xml_report{"LD_generate_xml_report",
                     "Write <xml_file_name>_success.xml and _failure.xml (every request).",
                     {{"xml_file_name", A::kString, false, "default_name", ""}},
                     [&app](const Args& a) -> Json {
                       auto [ok, fail] =
                           reports::write_xml_report(app.record_log_.get(), a.str("xml_file_name"));
                       return Json::array({ok, fail});
                     }};
  xml_report.needs_records = true;
  r.add(xml_report);
  Command csv{"LD_generate_csv_report",
              "Write <csv_name>.csv: one row per request (outcome, Method, test_url, name, ...).",
              {{"csv_name", A::kString, false, "default_name", ""}},
              [&app](const Args& a) -> Json {
                return reports::write_csv_report(app.record_log_.get(), a.str("csv_name"));
              }};
  csv.needs_records = true;
  r.add(csv);

  r.add(Command{"LD_generate_junit_report",
                "Write <report_name>.xml: JUnit, one testcase per name (and per SLA rule).",
                {{"report_name", A::kString, false, "loaddensity-junit", ""}},
                [&app](const Args& a) -> Json {
                  return reports::write_junit_report(
                      app.metrics_, app.sla_results_.is_array() ? &app.sla_results_ : nullptr,
                      a.str("report_name"));
                }});
  r.add(Command{"LD_generate_chart_report",
                "Write <report_name>-{rps,latency,users,distribution}.svg charts.",
                {{"report_name", A::kString, false, "loaddensity-charts", ""}},
                [&app](const Args& a) -> Json {
                  return paths_json(
                      reports::write_chart_report(app.metrics_, a.str("report_name")));
                }});
  Command locust{"LD_generate_locust_csv",
                 "Write Locust-compatible <prefix>_stats.csv, _stats_history.csv, _failures.csv, "
                 "_exceptions.csv.",
                 {{"prefix", A::kString, false, "loaddensity", "file name prefix"}},
                 [&app](const Args& a) -> Json {
                   return paths_json(reports::write_locust_csv(app.metrics_, app.record_log_.get(),
                                                               a.str("prefix")));
                 }};
  locust.needs_records = true;  // exact cumulative percentiles in the history file
  r.add(locust);

  Command persist{
      "LD_persist_records",
      "Store the results (aggregates, histograms, every request) as a new run in SQLite.",
      {{"database_path", A::kString, true, nullptr, "SQLite file (created when missing)"},
       {"label", A::kString | A::kNull, false, nullptr, ""},
       {"metadata", A::kObject | A::kNull, false, nullptr, "stored as JSON"}},
      [&app](const Args& a) -> Json {
        reports::PersistOptions o;
        if (a.has("label")) o.label = a.str("label");
        if (a["metadata"].is_object()) o.metadata = a["metadata"];
        return store_call([&]() -> Json {
          return reports::persist_run(a.str("database_path"), app.metrics_, app.record_log_.get(),
                                      o);
        });
      }};
  persist.needs_records = true;
  r.add(persist);
  r.add(Command{
      "LD_list_runs",
      "List stored runs, newest first.",
      {{"database_path", A::kString, true, nullptr, ""}, {"limit", A::kInteger, false, 20, ""}},
      [](const Args& a) -> Json {
        return store_call([&]() -> Json {
          return reports::list_runs(a.str("database_path"),
                                    static_cast<std::int64_t>(count_arg(a["limit"])));
        });
      }});
  r.add(Command{"LD_fetch_run_records",
                "Return the stored requests of one run.",
                {{"database_path", A::kString, true, nullptr, ""},
                 {"run_id", A::kInteger, true, nullptr, ""},
                 {"limit", A::kInteger | A::kNull, false, 10000, "null returns every record"}},
                [](const Args& a) -> Json {
                  return store_call([&]() -> Json {
                    return reports::fetch_run_records(
                        a.str("database_path"), a.integer("run_id"),
                        a["limit"].is_null() ? -1
                                             : static_cast<std::int64_t>(count_arg(a["limit"])));
                  });
                }});
  r.add(Command{"LD_diff_runs",
                "Compare two stored runs per name; regressions are increases above tolerance.",
                {{"database_path", A::kString, true, nullptr, ""},
                 {"baseline_run_id", A::kInteger, true, nullptr, ""},
                 {"current_run_id", A::kInteger, true, nullptr, ""},
                 {"tolerance", A::kNumber, false, 0.10, "fraction, 0.10 = 10%"}},
                [](const Args& a) -> Json {
                  return store_call([&]() -> Json {
                    return reports::diff_runs(a.str("database_path"), a.integer("baseline_run_id"),
                                              a.integer("current_run_id"), a.number("tolerance"));
                  });
                },
                [](const Args& a) {
                  if (a.number("tolerance") < 0) {
                    throw ConfigError("tolerance must be >= 0", "/tolerance");
                  }
                }});

  auto summary_of = [&app](const Args& a) {
    return a["summary"].is_object() ? a["summary"] : reports::build_summary(app.metrics_);
  };
  const std::vector<A::Param> sla_params = {
      {"rules", A::kArray, true, nullptr, "[{type, name?, op?, value}]"},
      {"summary", A::kObject | A::kNull, false, nullptr, "default: the current results"}};
  r.add(Command{"LD_evaluate_sla", "Evaluate SLA rules; returns [{passed, rule, actual, reason}].",
                sla_params,
                [&app, summary_of](const Args& a) -> Json {
                  app.sla_results_ = reports::evaluate_sla(a["rules"], summary_of(a));
                  return app.sla_results_;
                },
                check_rules});
  r.add(Command{"LD_assert_sla",
                "Evaluate SLA rules; a failed rule fails the action and the process exits 3 "
                "after the remaining actions ran.",
                sla_params,
                [&app, summary_of](const Args& a) -> Json {
                  app.sla_results_ = reports::evaluate_sla(a["rules"], summary_of(a));
                  const std::string failed = reports::sla_failure_message(app.sla_results_);
                  if (!failed.empty()) {
                    app.gate_failed_ = true;
                    throw std::runtime_error(failed);
                  }
                  return app.sla_results_;
                },
                check_rules});
  r.add(Command{
      "LD_emit_github_annotations",
      "Print GitHub Actions ::error lines per distinct failure and failed SLA rule.",
      {{"title", A::kString, false, "LoadDensity", ""},
       {"max_annotations", A::kInteger, false, 50, "cap on printed lines"}},
      [&app](const Args& a) -> Json {
        const auto lines = reports::github_annotations(
            app.metrics_, app.sla_results_.is_array() ? &app.sla_results_ : nullptr, a.str("title"),
            static_cast<std::size_t>(std::max<std::uint64_t>(1, count_arg(a["max_annotations"]))));
        for (const auto& l : lines) app.out_ << l << '\n';
        app.out_.flush();
        return lines.size();
      }});
}

}  // namespace ld::app
