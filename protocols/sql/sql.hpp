#pragma once
// SQL user template: sql_user (PostgreSQL through libpq on the worker's io_context, SQLite
// through the run's offload pool).
#include <memory>
#include <string>
#include <vector>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto::sql {

std::shared_ptr<engine::Protocol> make_protocol();

// `:name` parameters in `sql` (outside quoted text, comments and `::` casts) rewritten to
// positional ones: `$1`, `$2`, ... in order of first use (`prefix` '$' for PostgreSQL, '?' for
// SQLite); `names` receives the names in that order. A name used twice gets one number.
std::string rewrite_named(std::string_view sql, char prefix, std::vector<std::string>& names);

}  // namespace ld::proto::sql
