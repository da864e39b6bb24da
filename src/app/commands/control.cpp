// Running documents from documents: LD_execute_action, LD_execute_files, LD_list_commands.
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <stdexcept>

#include "action/loader.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;

namespace {

// One more level of nested documents while it lives; refused past limits::kMaxActionNesting.
class NestingLevel {
 public:
  NestingLevel(int& depth, const char* what) : depth_(depth) {
    if (depth_ >= limits::kMaxActionNesting) {
      throw ConfigError(std::string(what) + " nested more than " +
                        std::to_string(limits::kMaxActionNesting) + " levels deep");
    }
    ++depth_;
  }
  ~NestingLevel() { --depth_; }
  NestingLevel(const NestingLevel&) = delete;
  NestingLevel& operator=(const NestingLevel&) = delete;

 private:
  int& depth_;
};

}  // namespace

void register_control_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{"LD_execute_action",
                "Run a nested action list.",
                {{"action_list", A::kArray | A::kObject, true, nullptr, "actions"}},
                [&app](const Args& a) -> Json {
                  const NestingLevel level(app.depth_, "actions");
                  auto doc = action::parse_document_json(a["action_list"], "LD_execute_action");
                  auto rep = app.execute(doc, false);  // checked with its parent document
                  if (rep.failed) {
                    throw std::runtime_error(std::to_string(rep.failed) +
                                             " nested action(s) failed");
                  }
                  return rep.results;
                },
                nullptr,
                false,
                false,
                "action_list"});
  r.add(Command{"LD_execute_files",
                "Run action files in order.",
                {{"execute_files_list", A::kArray, true, nullptr, "paths"}},
                [&app](const Args& a) -> Json {
                  const NestingLevel level(app.depth_, "actions");
                  Json out = Json::array();
                  std::size_t failed = 0;
                  for (const auto& f : a["execute_files_list"]) {
                    if (!f.is_string()) throw ConfigError("execute_files_list holds file paths");
                    auto rep = app.execute(action::load_document_file(f.get<std::string>()));
                    failed += rep.failed;
                    out.push_back({{"file", f}, {"results", rep.results}});
                  }
                  if (failed)
                    throw std::runtime_error(std::to_string(failed) + " action(s) failed");
                  return out;
                },
                [&app](const Args& a) {
                  // The files are read and checked now, as part of the calling document.
                  const Json& list = a["execute_files_list"];
                  for (std::size_t i = 0; i < list.size(); ++i) {
                    const std::string ptr = "/execute_files_list" + pointer_index(i);
                    if (!list[i].is_string()) {
                      throw ConfigError("execute_files_list holds file paths, got " +
                                            std::string(json_type_name(list[i])),
                                        ptr);
                    }
                    try {
                      const NestingLevel level(app.check_depth_, "action files");
                      app.check(action::load_document_file(list[i].get<std::string>()));
                    } catch (const ConfigError& e) {
                      throw ConfigError(e.what(), ptr);
                    }
                  }
                }});

  r.add(Command{"LD_list_commands", "List every command.", {}, [&app](const Args&) -> Json {
                  return app.registry_.names();
                }});
}

}  // namespace ld::app
