#pragma once
// Loading data sources for ${csv.SRC.COL} and ${db.SRC.COL}: read once, when registered.
#include <memory>
#include <string>

#include "params/resolver.hpp"

namespace ld::params {

// A CSV file with a header row (RFC 4180 quoting, UTF-8). Errors name the file and line.
std::shared_ptr<DataSource> load_csv_source(const std::string& name, const std::string& path,
                                            bool cycle);

// The rows of `query` over SQLite ("sqlite:///relative.db", "sqlite:////abs.db" or a plain
// path) or PostgreSQL ("postgresql://user:pass@127.0.0.1:5432/db", libpq URIs and key=value
// strings). Values are text; NULL becomes "None" as the original printed it.
std::shared_ptr<DataSource> load_db_source(const std::string& name,
                                           const std::string& connection,
                                           const std::string& query, bool cycle);

}  // namespace ld::params
