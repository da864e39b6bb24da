#pragma once
// The composition root: the one place that wires the registry, the protocols, the resolver,
// the metrics, the reports and the embedded target together.
#include <atomic>
#include <iosfwd>
#include <memory>
#include <optional>

#include "action/executor.hpp"
#include "action/registry.hpp"
#include "engine/protocol.hpp"
#include "engine/scheduler.hpp"
#include "loaddensity/stats/metrics.hpp"
#include "params/resolver.hpp"

namespace ld::target {
class EmbeddedTarget;
}

namespace ld::app {

struct Options {
  bool quiet = false;         // no per-action lines
  bool progress = false;      // live progress line (a terminal)
  unsigned threads = 0;       // default worker threads for LD_start_test (0 = one per core)
  double hard_timeout_s = 0;  // default watchdog for LD_start_test (0 = none)
};

class App {
 public:
  App(std::ostream& out, std::ostream& err, Options options);
  ~App();

  action::CommandRegistry& registry() noexcept { return registry_; }
  // Checks and runs a document. Throws ConfigError when the document does not pass the
  // static check (nothing ran).
  action::ExecutionReport execute(const action::Document& doc);

  std::atomic<bool>& interrupt_flag() noexcept { return interrupted_; }
  stats::Metrics& metrics() noexcept { return metrics_; }

 private:
  void register_commands();
  Json register_csv_sources(const Json& list, const std::string& pointer);
  Json register_db_source(const Json& args, const std::string& pointer);

  std::ostream& out_;
  std::ostream& err_;
  Options options_;
  action::CommandRegistry registry_;
  engine::ProtocolRegistry protocols_;
  params::Resolver resolver_;
  stats::Metrics metrics_;
  std::unique_ptr<target::EmbeddedTarget> target_;
  std::optional<engine::FailureBudget> failure_budget_;
  std::optional<engine::NetworkConditioner> conditioner_;
  std::atomic<bool> interrupted_{false};
  int depth_ = 0;  // nesting of LD_execute_action / LD_execute_files
  std::vector<std::string> doc_dirs_;  // directories of the documents being executed
  // A data file path as given, or relative to the running document when only that exists.
  std::string data_path(const std::string& path) const;
};

// Exit codes, documented in the README.
constexpr int kExitOk = 0;
constexpr int kExitActionFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitInterrupted = 130;

}  // namespace ld::app
