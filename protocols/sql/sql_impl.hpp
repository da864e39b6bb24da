#pragma once
// Private to protocols/sql: the compiled form of sql_user tasks.
#include <memory>
#include <string>
#include <vector>

#include "checks/checks.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "common/step_tasks.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::sql {

constexpr double kDefaultTimeoutS = 30.0;
constexpr unsigned kSqlitePoolThreads = 4;

enum class Backend : std::uint8_t { kPostgres, kSqlite, kMariadb };

// One parameter: rendered per request when it holds a placeholder; JSON null is SQL NULL.
struct BoundParam {
  params::Template value;
  bool null = false;
  // MariaDB binds a JSON number or boolean as a number (fixed for the run): kInteger holds
  // `integer` (true is 1, false 0), kReal holds `real`. PostgreSQL and SQLite send `value`.
  enum class Number : std::uint8_t { kNo, kInteger, kReal } number = Number::kNo;
  long long integer = 0;
  double real = 0;
};

// A mysql:// or mariadb:// connection string, split for mysql_real_connect.
struct MariaTarget {
  std::string host = "localhost";  // "localhost" without unix_socket: the default socket file
  unsigned port = 3306;
  std::string user, password, database;  // percent-decoded; empty: not given
  std::string unix_socket;               // ?unix_socket=/path
  std::string charset = "utf8mb4";       // ?charset=
  // TLS, from ?ssl=, ?sslmode= (or ?ssl_mode=), ?ssl_verify_cert= and the files below: from
  // kRequire on a connection without TLS fails; a CA (ssl_ca/ssl_capath) is always checked
  // against the server's certificate chain (kVerifyCa), kVerifyFull also checks its host name.
  enum class Tls : std::uint8_t { kOff, kRequire, kVerifyCa, kVerifyFull } tls = Tls::kOff;
  std::string ssl_ca, ssl_capath, ssl_cert, ssl_key, ssl_cipher;  // files (or a cipher list)
};

struct Step {
  std::uint32_t name_id = 0;
  Nanos timeout = 0;
  std::string sql;                 // positional parameters only ($1.. or ?1..)
  std::string statement;           // PostgreSQL: the prepared statement's name
  std::vector<BoundParam> params;  // in positional order
  std::vector<std::uint32_t> markers;  // MariaDB: per `?` in `sql`, the index of its parameter
  long long expect_rows = -1;      // -1: not checked
  std::string expect_message;      // "expect_rows failed: expected N rows" (static for the run)
  std::unique_ptr<checks::Checks> assertions;  // over [{"col": value}, ...]; null when none
  std::unique_ptr<checks::Checks> extract;     // over the first row {"col": value}; null when none
  bool needs_rows() const noexcept { return assertions || extract; }
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;
  void start_run(unsigned worker_threads) override;
  void end_run() noexcept override;

  Backend backend = Backend::kPostgres;
  std::string conninfo;  // PostgreSQL: the URL as libpq takes it
  std::string path;      // SQLite: the database file (":memory:" per user)
  MariaTarget maria;     // MariaDB
  std::unique_ptr<engine::OffloadPool> pool;  // SQLite: per run
};

// Result rows as JSON for the checks, shared by the backends.
struct RowsJson {
  std::string all;                  // [{"col": value}, ...]
  std::string_view first = "null";  // the first row's object inside `all`, or null

  // Writing it row by row: begin(), per row begin_row() and per column key() then the value,
  // end_row(), and end().
  void begin() {
    all.assign("[");
    first = "null";
    rows_ = 0;
  }
  void begin_row() {
    if (rows_ > 0) all += ',';
    if (rows_ == 0) first_begin_ = all.size();
    all += '{';
    columns_ = 0;
  }
  void key(std::string_view name);  // "name": (after a comma from the second column on)
  void end_row() {
    all += '}';
    if (rows_++ == 0) first_end_ = all.size();
  }
  void end() {
    all += ']';
    if (rows_ > 0) first = std::string_view(all).substr(first_begin_, first_end_ - first_begin_);
  }

 private:
  std::size_t first_begin_ = 0, first_end_ = 0, rows_ = 0, columns_ = 0;
};

std::unique_ptr<engine::UserSession> new_pg_user(const Tasks& tasks, engine::WorkerContext& w);
std::unique_ptr<engine::UserSession> new_sqlite_user(const Tasks& tasks, engine::WorkerContext& w);
std::unique_ptr<engine::UserSession> new_mariadb_user(const Tasks& tasks, engine::WorkerContext& w);

// Applies expect_rows, the assertions and the extractors; the failure, or kNone.
stats::ErrorInfo check_rows(const Step& step, long long rows, const RowsJson& json,
                            params::UserScope& scope) noexcept;

}  // namespace ld::proto::sql
