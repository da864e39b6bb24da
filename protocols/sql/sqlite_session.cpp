// The sql_user path over SQLite: every statement is a blocking call, so it runs on the run's
// OffloadPool and resumes the user on its worker. Per user one database handle (opened by the
// first task, on the pool) with each task's statement prepared once; the handle, statements,
// rendered parameters and result rows live in a block the pool thread shares, so a user that
// goes away while its statement runs leaves nothing dangling. The statement's timeout is a
// progress handler (a statement still running at its deadline is interrupted) plus SQLite's
// busy timeout for a locked database.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <sqlite3.h>

#include "common/op_scope.hpp"
#include "core/resp.hpp"
#include "sql_impl.hpp"

namespace ld::proto::sql {

namespace {

using stats::ErrorInfo;
using stats::ErrorKind;

enum class Outcome : std::uint8_t { kOk, kSqlError, kTimeout, kOpenFailed };

// What the pool thread and the worker share for one user.
struct Lite {
  ~Lite() {
    for (sqlite3_stmt* s : stmts) sqlite3_finalize(s);
    if (db) sqlite3_close(db);
  }
  sqlite3* db = nullptr;
  std::vector<sqlite3_stmt*> stmts;  // per step, prepared on first use
  std::vector<std::string> texts;    // the rendered parameters of the running statement
  Nanos deadline = 0;
  bool want_rows = false;
  long long rows = 0;
  std::uint64_t bytes_in = 0;
  RowsJson json;
  std::string msg;  // a failure's message
};

int past_deadline(void* self) { return steady_now() > static_cast<Lite*>(self)->deadline ? 1 : 0; }

void append_column(std::string& out, sqlite3_stmt* st, int col) {
  switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
      out += "null";
      return;
    case SQLITE_INTEGER:
      out += std::to_string(sqlite3_column_int64(st, col));
      return;
    case SQLITE_FLOAT: {
      Json v = sqlite3_column_double(st, col);
      out += v.dump();
      return;
    }
    default: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
      resp::append_json_string(out, std::string_view(p ? p : "", sqlite3_column_bytes(st, col)));
    }
  }
}

// Runs step `index` on the pool thread.
Outcome execute(Lite& l, const Tasks& tasks, std::size_t index) {
  const Step& step = tasks.steps[index];
  if (!l.db) {
    if (sqlite3_open_v2(tasks.path.c_str(), &l.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      l.msg = l.db ? sqlite3_errmsg(l.db) : "out of memory";
      if (l.db) sqlite3_close(l.db);
      l.db = nullptr;
      return Outcome::kOpenFailed;
    }
    sqlite3_progress_handler(l.db, 1000, &past_deadline, &l);
  }
  sqlite3_busy_timeout(l.db, static_cast<int>(step.timeout / kNanosPerMilli));
  auto failed = [&](int rc) {
    if (rc == SQLITE_INTERRUPT || (rc & 0xff) == SQLITE_BUSY) {
      if (steady_now() > l.deadline) return Outcome::kTimeout;
    }
    l.msg = sqlite3_errmsg(l.db);
    l.msg += " (";
    l.msg += sqlite3_errstr(rc);
    l.msg += ')';
    return Outcome::kSqlError;
  };
  sqlite3_stmt*& st = l.stmts[index];
  if (!st) {
    const int rc = sqlite3_prepare_v3(l.db, step.sql.data(), static_cast<int>(step.sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    if (rc != SQLITE_OK) {
      st = nullptr;
      return failed(rc);
    }
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  for (std::size_t i = 0; i < step.params.size(); ++i) {
    if (step.params[i].null) continue;  // cleared: NULL
    const std::string& t = l.texts[i];
    sqlite3_bind_text(st, static_cast<int>(i + 1), t.data(), static_cast<int>(t.size()),
                      SQLITE_STATIC);
  }
  l.rows = 0;
  l.bytes_in = 0;
  RowsJson& j = l.json;
  j.all.assign(l.want_rows ? "[" : "");
  j.first = "null";
  std::size_t first_begin = 0, first_end = 0;
  const int cols = sqlite3_column_count(st);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int c = 0; c < cols; ++c)
      l.bytes_in += static_cast<std::uint64_t>(sqlite3_column_bytes(st, c));
    if (l.want_rows) {
      if (l.rows > 0) j.all += ',';
      if (l.rows == 0) first_begin = j.all.size();
      j.all += '{';
      for (int c = 0; c < cols; ++c) {
        if (c > 0) j.all += ',';
        resp::append_json_string(j.all, sqlite3_column_name(st, c));
        j.all += ':';
        append_column(j.all, st, c);
      }
      j.all += '}';
      if (l.rows == 0) first_end = j.all.size();
    }
    ++l.rows;
  }
  if (rc != SQLITE_DONE) {
    const Outcome o = failed(rc);
    sqlite3_reset(st);
    return o;
  }
  if (l.want_rows) {
    j.all += ']';
    if (l.rows > 0) j.first = std::string_view(j.all).substr(first_begin, first_end - first_begin);
  }
  if (cols == 0) l.rows = sqlite3_changes(l.db);
  sqlite3_reset(st);
  return Outcome::kOk;
}

class LiteSession final : public engine::UserSession {
 public:
  LiteSession(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks), w_(w), lite_(std::make_shared<Lite>()) {
    lite_->stmts.assign(tasks.steps.size(), nullptr);
    std::size_t n = 0;
    for (const auto& s : tasks.steps) n = std::max(n, s.params.size());
    lite_->texts.resize(n);
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    OpScope op(w_, step.name_id, planned, step.timeout);
    Lite& l = *lite_;
    std::uint64_t out = 0;
    for (std::size_t i = 0; i < step.params.size(); ++i) {
      l.texts[i].clear();
      if (!step.params[i].null) step.params[i].value.render(l.texts[i], *w_.scope);
      out += l.texts[i].size();
    }
    l.deadline = op.rec.start + step.timeout;
    l.want_rows = step.needs_rows() || w_.keep_bodies > 0;
    // A named job (GCC mishandles a capturing lambda temporary inside co_await).
    auto job = [lite = lite_, tasks = &tasks_, index] { return execute(*lite, *tasks, index); };
    const Outcome o = co_await tasks_.pool->run(w_, std::move(job), nullptr);
    op.rec.bytes_out = out;
    switch (o) {
      case Outcome::kOk:
        op.rec.bytes_in = l.bytes_in;
        op.rec.error = check_rows(step, l.rows, l.json, *w_.scope);
        if (op.rec.ok() && w_.keep_bodies > 0) {
          op.rec.text = std::string_view(l.json.all).substr(0, w_.keep_bodies);
        }
        break;
      case Outcome::kTimeout:
        op.rec.error = op.timed_out();
        break;
      case Outcome::kSqlError:
        op.rec.error = {ErrorKind::kSqlError, w_.intern(l.msg), 0, false};
        break;
      case Outcome::kOpenFailed:
        op.rec.error = {ErrorKind::kConnect, w_.intern("cannot open " + tasks_.path + ": " + l.msg),
                        0, false};
        break;
    }
    op.finish();
  }

 private:
  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::shared_ptr<Lite> lite_;
};

}  // namespace

std::unique_ptr<engine::UserSession> new_sqlite_user(const Tasks& tasks, engine::WorkerContext& w) {
  return std::make_unique<LiteSession>(tasks, w);
}

}  // namespace ld::proto::sql
