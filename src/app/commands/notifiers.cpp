// Notifiers: LD_post_slack_summary and LD_post_teams_summary post the run's summary to a
// webhook (src/notify builds the messages and makes the POST).
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <stdexcept>

#include "common/url.hpp"
#include "loaddensity/core/error.hpp"
#include "notify/notify.hpp"
#include "params/resolver.hpp"
#include "summary/summary.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;

namespace {

std::vector<action::Param> notifier_params() {
  return {{"webhook_url", A::kString, true, nullptr, "http(s) URL; ${...} placeholders resolve"},
          {"summary", A::kObject | A::kNull, false, nullptr, "default: the current results"},
          {"title", A::kString, false, "LoadDensity run", ""},
          {"timeout", A::kNumber, false, 5.0, "seconds for the whole exchange"},
          {"verify", A::kBool | A::kString, false, true,
           "TLS: true = system CAs, false = no verification, a path = a CA bundle"}};
}

void check_notifier(const Args& a) {
  const std::string url = a.str("webhook_url");
  if (url.find("${") == std::string::npos) {
    const auto colon = url.find("://");
    const std::string scheme = colon == std::string::npos ? "" : url.substr(0, colon);
    if (scheme != "http" && scheme != "https") {
      throw ConfigError("unsupported webhook scheme: '" + scheme + "' (use http or https)",
                        "/webhook_url");
    }
    proto::Url parsed;
    std::string error;
    if (!proto::parse_url(url, parsed, error)) throw ConfigError(error, "/webhook_url");
  }
  number_in_range(a["timeout"], "timeout", 0, 3600, true, "/timeout", "seconds");
}

}  // namespace

void register_notifier_commands(action::CommandRegistry& r, App& app) {
  auto post = [&app](const Args& a, Json (*payload)(const notify::Report&)) -> Json {
    const Json summary =
        a["summary"].is_object() ? a["summary"] : reports::build_summary(app.metrics_);
    const std::string body =
        payload(notify::Report{summary, app.sla_results_, a.str("title")}).dump();
    std::string url = a.str("webhook_url");
    if (url.find("${") != std::string::npos) url = params::resolve_static(url, app.resolver_);
    return notify::post_json(url, body, a.number("timeout"), a["verify"]);
  };
  r.add(Command{"LD_post_slack_summary",
                "POST the summary (totals, p95/p99, failure rate, SLA results, top errors) to a "
                "Slack incoming webhook as Block Kit; returns the HTTP status.",
                notifier_params(),
                [post](const Args& a) -> Json { return post(a, notify::slack_payload); },
                check_notifier});
  r.add(Command{"LD_post_teams_summary",
                "POST the summary to a Microsoft Teams webhook as an Adaptive Card; returns the "
                "HTTP status.",
                notifier_params(),
                [post](const Args& a) -> Json { return post(a, notify::teams_payload); },
                check_notifier});
}

}  // namespace ld::app
