// Reliability policies of later tests: the failure budget and the network conditioner.
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include "engine/scheduler.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;

void register_reliability_commands(action::CommandRegistry& r, App& app) {
  auto parse_budget = [](const Args& a) {
    engine::FailureBudget b;
    b.threshold =
        number_in_range(a["threshold"], "threshold", 0, 1, false, "/threshold", "(a failure rate)");
    b.window_s = number_in_range(a["window_seconds"], "window_seconds", 1, limits::kMaxSeconds,
                                 false, "/window_seconds", "seconds (10 years)");
    b.min_samples = static_cast<std::uint64_t>(number_in_range(
        a["min_samples"], "min_samples", 0, 1e12, false, "/min_samples", "requests"));
    return b;
  };
  r.add(Command{"LD_install_failure_budget",
                "Stop tests when the failure rate over a sliding window exceeds a threshold.",
                {{"threshold", A::kNumber, false, 0.05, "failure rate, 0..1"},
                 {"window_seconds", A::kNumber, false, 30.0, ""},
                 {"min_samples", A::kInteger, false, 50, ""},
                 {"runner_quit_callback", A::kAny, false, nullptr, "accepted, unused"}},
                [&app, parse_budget](const Args& a) -> Json {
                  const engine::FailureBudget b = parse_budget(a);
                  app.failure_budget_ = b;
                  return {{"threshold", b.threshold},
                          {"window_seconds", b.window_s},
                          {"min_samples", b.min_samples}};
                },
                [parse_budget](const Args& a) { parse_budget(a); }});
  r.add(Command{
      "LD_uninstall_failure_budget", "Remove the failure budget.", {}, [&app](const Args&) -> Json {
        app.failure_budget_.reset();
        return {{"status", "uninstalled"}};
      }});
  auto parse_conditioner = [](const Args& a) {
    engine::NetworkConditioner c;
    constexpr double kMaxMs = 3'600'000;  // an hour of added latency
    c.latency_ms =
        number_in_range(a["latency_ms"], "latency_ms", 0, kMaxMs, false, "/latency_ms", "ms");
    c.jitter_ms =
        number_in_range(a["jitter_ms"], "jitter_ms", 0, kMaxMs, false, "/jitter_ms", "ms");
    c.loss_rate =
        number_in_range(a["loss_rate"], "loss_rate", 0, 1, false, "/loss_rate", "(a probability)");
    c.name_filter = a.str("name_filter");
    return c;
  };
  r.add(
      Command{"LD_install_network_conditioner",
              "Add latency, jitter and loss before matching requests (counted separately).",
              {{"latency_ms", A::kNumber, false, 0, ""},
               {"jitter_ms", A::kNumber, false, 0, ""},
               {"loss_rate", A::kNumber, false, 0, "0..1"},
               {"name_filter", A::kString | A::kNull, false, nullptr, "substring of name or URL"}},
              [&app, parse_conditioner](const Args& a) -> Json {
                const engine::NetworkConditioner c = parse_conditioner(a);
                app.conditioner_ = c;
                return {{"latency_ms", c.latency_ms},
                        {"jitter_ms", c.jitter_ms},
                        {"loss_rate", c.loss_rate},
                        {"name_filter", a["name_filter"]}};
              },
              [parse_conditioner](const Args& a) { parse_conditioner(a); }});
  r.add(Command{"LD_uninstall_network_conditioner",
                "Remove the network conditioner.",
                {},
                [&app](const Args&) -> Json {
                  app.conditioner_.reset();
                  return {{"status", "uninstalled"}};
                }});
}

}  // namespace ld::app
