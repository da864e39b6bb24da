// Variables and the faker seed: LD_register_variable(s), LD_set_faker_seed.
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <optional>

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;

void register_variable_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{"LD_register_variable",
                "Register one variable for ${var.NAME} / ${NAME} placeholders.",
                {{"name", A::kString, true, nullptr, ""}, {"value", A::kAny, true, nullptr, ""}},
                [&app](const Args& a) -> Json {
                  app.resolver_.set_variable(a.str("name"), json_display(a["value"]));
                  return {{"registered", a["name"]}};
                }});
  r.add(Command{"LD_register_variables",
                "Register several variables from an object.",
                {{"variables", A::kObject, true, nullptr, "{\"name\": value, ...}"}},
                [&app](const Args& a) -> Json {
                  Json names = Json::array();
                  for (auto it = a["variables"].begin(); it != a["variables"].end(); ++it) {
                    app.resolver_.set_variable(it.key(), json_display(it.value()));
                    names.push_back(it.key());
                  }
                  return {{"registered", names}};
                }});

  r.add(Command{"LD_set_faker_seed",
                "Make ${faker.*} values repeatable (null: random).",
                {{"seed", A::kInteger | A::kNull, false, nullptr, ""}},
                [&app](const Args& a) -> Json {
                  if (a.has("seed")) {
                    app.resolver_.set_faker_seed(static_cast<std::uint64_t>(a.integer("seed")));
                  } else {
                    app.resolver_.set_faker_seed(std::nullopt);
                  }
                  return {{"seed", a["seed"]}};
                }});
}

}  // namespace ld::app
