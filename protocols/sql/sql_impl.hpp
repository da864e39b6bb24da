#pragma once
// Private to protocols/sql: the compiled form of sql_user tasks.
#include <memory>
#include <string>
#include <vector>

#include "checks/checks.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::sql {

constexpr double kDefaultTimeoutS = 30.0;
constexpr unsigned kSqlitePoolThreads = 4;

enum class Backend : std::uint8_t { kPostgres, kSqlite };

// One parameter: rendered per request when it holds a placeholder; JSON null is SQL NULL.
struct BoundParam {
  params::Template value;
  bool null = false;
};

struct Step {
  std::uint32_t name_id = 0;
  Nanos timeout = 0;
  std::string sql;                 // positional parameters only ($1.. or ?1..)
  std::string statement;           // PostgreSQL: the prepared statement's name
  std::vector<BoundParam> params;  // in positional order
  long long expect_rows = -1;      // -1: not checked
  std::string expect_message;      // "expect_rows failed: expected N rows" (static for the run)
  std::unique_ptr<checks::Checks> assertions;  // over [{"col": value}, ...]; null when none
  std::unique_ptr<checks::Checks> extract;     // over the first row {"col": value}; null when none
  bool needs_rows() const noexcept { return assertions || extract; }
};

class Tasks final : public engine::CompiledTasks {
 public:
  std::size_t size() const noexcept override { return steps.size(); }
  Nanos max_timeout() const noexcept override;
  std::uint32_t name_id(std::size_t i) const noexcept override { return steps[i].name_id; }
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;
  std::shared_ptr<void> new_worker_state(engine::WorkerContext& worker) override;
  void start_run(unsigned worker_threads) override;
  void end_run() noexcept override;

  Backend backend = Backend::kPostgres;
  std::string conninfo;  // PostgreSQL: the URL as libpq takes it
  std::string path;      // SQLite: the database file (":memory:" per user)
  std::vector<Step> steps;
  std::unique_ptr<engine::OffloadPool> pool;  // SQLite: per run
};

// Result rows as JSON for the checks, shared by both backends.
struct RowsJson {
  std::string all;                  // [{"col": value}, ...]
  std::string_view first = "null";  // the first row's object inside `all`, or null
};

std::unique_ptr<engine::UserSession> new_pg_user(const Tasks& tasks, engine::WorkerContext& w);
std::shared_ptr<void> new_pg_worker_state(engine::WorkerContext& w);  // the worker's epoll set
std::unique_ptr<engine::UserSession> new_sqlite_user(const Tasks& tasks, engine::WorkerContext& w);

// Applies expect_rows, the assertions and the extractors; the failure, or kNone.
stats::ErrorInfo check_rows(const Step& step, long long rows, const RowsJson& json,
                            params::UserScope& scope) noexcept;

}  // namespace ld::proto::sql
