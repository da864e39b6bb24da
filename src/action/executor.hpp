#pragma once
// Runs action documents through the registry. Before the first action runs, every action of the
// document is checked (command exists, arguments bind, command validators pass): a bad document
// stops with ConfigError and nothing runs. At run time an action that fails is reported with its
// index, command and message, and the rest still run.
#include <atomic>
#include <iosfwd>
#include <string>

#include "action/loader.hpp"
#include "action/registry.hpp"

namespace ld::action {

struct ExecutionReport {
  std::size_t ran = 0;
  std::size_t failed = 0;
  std::size_t config_failures = 0;  // failures caused by bad input found at run time
  std::size_t skipped = 0;          // load actions skipped after an interrupt
  Json results = Json::array();     // one {"action","command","ok","result"|"error"} per action
};

class Executor {
 public:
  Executor(const CommandRegistry& registry, std::ostream& out, std::ostream& err)
      : registry_(registry), out_(out), err_(err) {}

  // Throws ConfigError when the document does not pass the static check. Nested action lists
  // (Command::nested_actions) are checked as well; `depth` is the nesting of `doc` itself.
  void check(const Document& doc, int depth = 0) const;
  ExecutionReport run(const Document& doc);

  // Once `*flag` is true (a signal arrived), load actions are skipped.
  void set_interrupt_flag(const std::atomic<bool>* flag) noexcept { interrupted_ = flag; }
  bool interrupted() const noexcept { return interrupted_ && interrupted_->load(); }
  void set_echo(bool on) noexcept { echo_ = on; }
  // Off: ExecutionReport::results stays empty (the counts are still kept). A top-level
  // document of a million actions would otherwise hold a million result objects.
  void set_keep_results(bool on) noexcept { keep_results_ = on; }

 private:
  const CommandRegistry& registry_;
  std::ostream& out_;
  std::ostream& err_;
  const std::atomic<bool>* interrupted_ = nullptr;
  bool echo_ = true;
  bool keep_results_ = true;
};

}  // namespace ld::action
