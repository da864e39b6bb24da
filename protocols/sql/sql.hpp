#pragma once
// SQL user template: sql_user (PostgreSQL through libpq and MariaDB/MySQL through libmariadb's
// non-blocking API on the worker's io_context, SQLite through the run's offload pool).
#include <cstdint>
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

// The parameters of `sql` rewritten to MariaDB's `?` markers, lexing as MariaDB does (quoted
// text with backslash escapes, `--`, `#` and `/* */` comments left alone). With `named`, each
// `:name` is one marker (`names` receives the names in order of first use); otherwise `$N` and
// `?N` are parameter N and each bare `?` the next one (counting bare markers only). `order`
// receives, per marker in the result, the 0-based index of its parameter.
std::string to_markers(std::string_view sql, bool named, std::vector<std::string>& names,
                       std::vector<std::uint32_t>& order);

}  // namespace ld::proto::sql
