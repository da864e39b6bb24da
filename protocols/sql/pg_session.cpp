// The sql_user hot path over PostgreSQL: libpq in non-blocking mode on the worker's io_context.
// Per user one connection, opened by the first task (PQconnectStart/PQconnectPoll, waiting on a
// duplicate of libpq's socket) and reopened by the next task after it was lost or a statement
// timed out. Each task's statement is prepared once per connection (PQsendPrepare), then run
// with its parameters rendered as text (PQsendQueryPrepared); the rows become JSON only when
// the task checks them or the test keeps bodies.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <libpq-fe.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <cstring>

#include "common/op_scope.hpp"
#include "core/resp.hpp"
#include "sql_impl.hpp"

namespace ld::proto::sql {

namespace {

namespace net = boost::asio;
using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;

// PostgreSQL type OIDs whose text form is a JSON number, boolean or JSON document.
constexpr Oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
              kFloat8 = 701, kNumeric = 1700, kJson = 114, kJsonb = 3802;

void append_value(std::string& out, const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) {
    out += "null";
    return;
  }
  const std::string_view v(PQgetvalue(res, row, col),
                           static_cast<std::size_t>(PQgetlength(res, row, col)));
  switch (PQftype(res, col)) {
    case kBool:
      out += v == "t" ? "true" : "false";
      return;
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
    case kFloat4:
    case kFloat8:
    case kNumeric:
      // NaN and Infinity have no JSON number: they stay strings.
      if (!v.empty() && (std::isdigit(static_cast<unsigned char>(v.front())) || v.front() == '-') &&
          v != "-Infinity") {
        out += v;
        return;
      }
      break;
    case kJson:
    case kJsonb:
      out += v;
      return;
    default:
      break;
  }
  resp::append_json_string(out, v);
}

void rows_json(const PGresult* res, RowsJson& json) {
  json.all.clear();
  json.all += '[';
  const int rows = PQntuples(res), cols = PQnfields(res);
  std::size_t first_begin = 0, first_end = 0;
  for (int r = 0; r < rows; ++r) {
    if (r > 0) json.all += ',';
    if (r == 0) first_begin = json.all.size();
    json.all += '{';
    for (int c = 0; c < cols; ++c) {
      if (c > 0) json.all += ',';
      resp::append_json_string(json.all, PQfname(res, c));
      json.all += ':';
      append_value(json.all, res, r, c);
    }
    json.all += '}';
    if (r == 0) first_end = json.all.size();
  }
  json.all += ']';
  json.first = rows > 0 ? std::string_view(json.all).substr(first_begin, first_end - first_begin)
                        : std::string_view("null");
}

class PgSession final : public engine::UserSession {
 public:
  PgSession(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks), w_(w), sock_(w.io), prepared_(tasks.steps.size(), 0) {
    std::size_t n = 0;
    for (const auto& s : tasks.steps) n = std::max(n, s.params.size());
    texts_.resize(n);
    values_.resize(n);
    op_.on_expire = &PgSession::expire;
    op_.self = this;
    w_.deadlines.add(&op_);
  }
  ~PgSession() override {
    w_.deadlines.remove(&op_);
    close();
  }

  void shutdown() noexcept override { close(); }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    OpScope op(w_, op_, step.name_id, planned, step.timeout);
    ErrorInfo e;
    if (!pg_) e = co_await connect(op);
    if (e.kind == ErrorKind::kNone && !prepared_[index]) {
      if (!PQsendPrepare(pg_, step.statement.c_str(), step.sql.c_str(),
                         static_cast<int>(step.params.size()), nullptr)) {
        e = lost();
      } else {
        PGresult* res = nullptr;
        e = co_await result(op, res);
        if (e.kind == ErrorKind::kNone) {
          if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            prepared_[index] = 1;
          } else {
            e = sql_error(res);
          }
        }
        PQclear(res);
      }
    }
    if (e.kind == ErrorKind::kNone) {
      std::uint64_t out = 0;
      for (std::size_t i = 0; i < step.params.size(); ++i) {
        if (step.params[i].null) {
          values_[i] = nullptr;
          continue;
        }
        texts_[i].clear();
        step.params[i].value.render(texts_[i], *w_.scope);
        values_[i] = texts_[i].c_str();
        out += texts_[i].size();
      }
      op.rec.bytes_out = out + step.statement.size();
      if (!PQsendQueryPrepared(pg_, step.statement.c_str(), static_cast<int>(step.params.size()),
                               values_.data(), nullptr, nullptr, 0)) {
        e = lost();
      } else {
        PGresult* res = nullptr;
        e = co_await result(op, res);
        if (e.kind == ErrorKind::kNone) e = outcome(step, res, op.rec);
        PQclear(res);
      }
    }
    if ((e.kind != ErrorKind::kNone && e.kind != ErrorKind::kSqlError &&
         e.kind != ErrorKind::kAssertion) ||
        (pg_ && PQstatus(pg_) == CONNECTION_BAD)) {
      close();  // lost (or a FATAL error ended it) or timed out: the next task reconnects
    }
    op.rec.error = e;
    if (op.rec.ok() && w_.keep_bodies > 0) {
      op.rec.text = std::string_view(json_.all).substr(0, w_.keep_bodies);
    }
    op.finish();
  }

 private:
  static void expire(void* self) noexcept {
    error_code ignored;
    static_cast<PgSession*>(self)->sock_.cancel(ignored);  // the pending wait fails
  }

  void close() noexcept {
    error_code ignored;
    sock_.close(ignored);
    if (pg_) PQfinish(pg_);
    pg_ = nullptr;
  }

  // Waits until libpq's socket is readable (or writable); the failure otherwise.
  net::awaitable<ErrorInfo> wait(OpScope& op, bool write) {
    if (op.expired()) co_return op.timed_out();
    error_code ec;
    co_await sock_.async_wait(write ? net::posix::stream_descriptor::wait_write
                                    : net::posix::stream_descriptor::wait_read,
                              net::redirect_error(net::use_awaitable, ec));
    if (op.expired()) co_return op.timed_out();
    if (ec) co_return classify_error(ec, "receive");
    co_return ErrorInfo{};
  }

  // The connection's error text (libpq's message, first line) as a failure of `kind`.
  ErrorInfo pq_error(ErrorKind kind, const char* prefix) {
    const char* m = pg_ ? PQerrorMessage(pg_) : "";
    std::string_view text(m);
    text = text.substr(0, text.find('\n'));
    msg_.assign(prefix);
    msg_.append(text);
    return {kind, w_.intern(msg_), 0, false};
  }
  ErrorInfo lost() { return pq_error(ErrorKind::kReset, "connection lost: "); }

  // Watches libpq's current socket through a duplicate the io_context owns.
  bool attach() {
    error_code ignored;
    sock_.close(ignored);
    const int fd = PQsocket(pg_);
    if (fd < 0) return false;
    const int own = ::dup(fd);
    if (own < 0) return false;
    sock_.assign(own, ignored);
    return !ignored;
  }

  net::awaitable<ErrorInfo> connect(OpScope& op) {
    pg_ = PQconnectStart(tasks_.conninfo.c_str());
    if (!pg_) co_return ErrorInfo{ErrorKind::kConnect, "out of memory", 0, false};
    std::fill(prepared_.begin(), prepared_.end(), 0);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
      if (PQstatus(pg_) == CONNECTION_BAD || st == PGRES_POLLING_FAILED) {
        const ErrorInfo e = pq_error(
            std::strstr(PQerrorMessage(pg_), "refused") ? ErrorKind::kRefused : ErrorKind::kConnect,
            "");
        close();
        co_return e;
      }
      if (st == PGRES_POLLING_OK) break;
      // libpq may move to another socket while connecting (another address, SSL fallback).
      if (!attach()) {
        close();
        co_return ErrorInfo{ErrorKind::kConnect, "no socket", 0, false};
      }
      const ErrorInfo e = co_await wait(op, st == PGRES_POLLING_WRITING);
      if (e.kind != ErrorKind::kNone) {
        close();
        co_return e;
      }
      st = PQconnectPoll(pg_);
    }
    if (PQsetnonblocking(pg_, 1) != 0 || !attach()) {
      const ErrorInfo e = pq_error(ErrorKind::kConnect, "");
      close();
      co_return e;
    }
    co_return ErrorInfo{};
  }

  // Sends what libpq buffered and reads until the statement's last result; `res` is that result.
  net::awaitable<ErrorInfo> result(OpScope& op, PGresult*& res) {
    for (;;) {
      const int r = PQflush(pg_);
      if (r == 0) break;
      if (r < 0) co_return lost();
      const ErrorInfo e = co_await wait(op, true);
      if (e.kind != ErrorKind::kNone) co_return e;
    }
    for (;;) {
      if (!PQconsumeInput(pg_)) {
        PQclear(res);
        res = nullptr;
        co_return lost();
      }
      while (!PQisBusy(pg_)) {
        PGresult* next = PQgetResult(pg_);
        if (!next) {
          if (!res) co_return lost();
          co_return ErrorInfo{};
        }
        PQclear(res);
        res = next;
      }
      const ErrorInfo e = co_await wait(op, false);
      if (e.kind != ErrorKind::kNone) {
        PQclear(res);
        res = nullptr;
        co_return e;
      }
    }
  }

  // "SQLSTATE message" of a failed statement.
  ErrorInfo sql_error(const PGresult* res) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char* text = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    msg_.assign(state ? state : "?????");
    msg_ += ' ';
    msg_.append(text ? text : PQresultErrorMessage(res));
    return {ErrorKind::kSqlError, w_.intern(msg_), 0, false};
  }

  ErrorInfo outcome(const Step& step, const PGresult* res, stats::Record& rec) {
    long long rows = 0;
    switch (PQresultStatus(res)) {
      case PGRES_TUPLES_OK:
        rows = PQntuples(res);
        break;
      case PGRES_COMMAND_OK:
        rows = std::atoll(PQcmdTuples(const_cast<PGresult*>(res)));
        break;
      case PGRES_EMPTY_QUERY:
        break;
      default:
        return sql_error(res);
    }
    json_.all.clear();
    json_.first = "null";
    if (step.needs_rows() || w_.keep_bodies > 0) rows_json(res, json_);
    std::uint64_t in = 0;
    const int n = PQntuples(res), cols = PQnfields(res);
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < cols; ++c) in += static_cast<std::uint64_t>(PQgetlength(res, r, c));
    }
    rec.bytes_in = in;
    return check_rows(step, rows, json_, *w_.scope);
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  net::posix::stream_descriptor sock_;
  PGconn* pg_ = nullptr;
  engine::TimedOp op_;
  std::vector<char> prepared_;  // per step: prepared on the current connection
  std::vector<std::string> texts_;
  std::vector<const char*> values_;
  RowsJson json_;
  std::string msg_;  // an error message being built (failures only)
};

}  // namespace

std::unique_ptr<engine::UserSession> new_pg_user(const Tasks& tasks, engine::WorkerContext& w) {
  return std::make_unique<PgSession>(tasks, w);
}

}  // namespace ld::proto::sql
