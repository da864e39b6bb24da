// Data sources: CSV files and database queries for ${csv.*} / ${db.*}, LD_clear_resolver.
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include "loaddensity/core/error.hpp"
#include "params/sources.hpp"

namespace ld::app {

using action::Args;
using action::Command;
using action::Param;
namespace A = action;

void register_source_commands(action::CommandRegistry& r, App& app) {
  r.add(Command{"LD_register_csv_source",
                "Register a CSV file (header row) for ${csv.NAME.COLUMN} placeholders.",
                {{"name", A::kString, true, nullptr, ""},
                 {"file_path", A::kString, true, nullptr, ""},
                 {"cycle", A::kBool, false, true, "start over when the rows run out"}},
                [&app](const Args& a) -> Json {
                  std::shared_ptr<params::DataSource> src;
                  try {
                    src = app.load_csv(a.str("name"), a.str("file_path"), a.flag("cycle"));
                  } catch (const ConfigError& e) {
                    throw ConfigError(e.what(), "/file_path");
                  }
                  const std::size_t rows = src->rows.size();
                  app.resolver_.add_source("csv", std::move(src));
                  return {{"name", a["name"]}, {"rows", rows}};
                },
                [&app](const Args& a) {
                  app.check_csv_file(a["name"], a["file_path"], a["cycle"], "/file_path");
                }});
  r.add(Command{
      "LD_register_csv_sources",
      "Register several CSV sources.",
      {{"sources", A::kArray, true, nullptr, "[{\"name\", \"file_path\", \"cycle\"}]"}},
      [&app](const Args& a) -> Json { return app.register_csv_sources(a["sources"], "/sources"); },
      [&app](const Args& a) { app.check_csv_list(a["sources"], "/sources"); }});
  r.add(Command{"LD_register_db_source",
                "Register the rows of a SQL query (SQLite or PostgreSQL) for ${db.NAME.COLUMN}.",
                {{"name", A::kString, true, nullptr, ""},
                 {"connection_string", A::kString, true, nullptr,
                  "sqlite:///file.db or postgresql://user@host:port/db"},
                 {"query", A::kString, true, nullptr, "SELECT ..."},
                 {"cycle", A::kBool, false, true, ""}},
                [&app](const Args& a) -> Json { return app.register_db_source(a, ""); }});
  r.add(Command{"LD_register_db_sources",
                "Register several database sources.",
                {{"sources", A::kArray, true, nullptr,
                  "[{\"name\", \"connection_string\", \"query\", \"cycle\"}]"}},
                [&app](const Args& a) -> Json {
                  Json out = Json::array();
                  for (std::size_t i = 0; i < a["sources"].size(); ++i) {
                    const Json& s = a["sources"][i];
                    const std::string ptr = "/sources" + pointer_index(i);
                    if (!s.is_object() || !s.contains("name") || !s.contains("connection_string") ||
                        !s.contains("query")) {
                      throw ConfigError(
                          "a db source is {\"name\", \"connection_string\", \"query\", \"cycle\"?}",
                          ptr);
                    }
                    Json full = s;
                    if (!full.contains("cycle")) full["cycle"] = true;
                    out.push_back(app.register_db_source(full, ptr));
                  }
                  return out;
                }});
  r.add(Command{"LD_clear_resolver",
                "Forget registered variables and data sources.",
                {},
                [&app](const Args&) -> Json {
                  app.resolver_.clear();
                  return {{"status", "cleared"}};
                },
                [&app](const Args&) { app.static_csv_columns_.clear(); }});
}

}  // namespace ld::app
