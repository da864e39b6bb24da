// The sql_user hot path over PostgreSQL: libpq in non-blocking mode on the worker's io_context.
// Per user one connection, opened by the first task (PQconnectStart/PQconnectPoll, waiting on a
// duplicate of libpq's socket) and reopened by the next task after it was lost or a statement
// timed out. Each task's statement is prepared once per connection (PQsendPrepare), then run
// with its parameters rendered as text (PQsendQueryPrepared); the rows become JSON only when
// the task checks them or the test keeps bodies.
//
// Readiness comes from the worker's own reactor: each connection's socket is registered with
// it once (edge-triggered), and a session that waits queues a small operation of its own there
// (PgWait) that resumes it when epoll reports the socket. A statement then costs libpq's send
// and its read plus a share of one epoll_wait per batch of ready connections, with no epoll_ctl
// per statement (Asio 1.74's async_wait re-arms its descriptor with epoll_ctl on every call)
// and no read that finds the socket empty.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <fcntl.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>  // before the reactor (which needs the scheduler)

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <cerrno>
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

}  // namespace

namespace {

using Reactor = net::detail::reactor;

// One wait of a session for its connection's socket, queued with the worker's own reactor like
// a socket operation (Asio 1.74's reactor interface, asio::detail): the reactor runs it when
// epoll reports the socket, and its completion resumes the parked session on the reactor's
// stack. Reused for every wait of the session; one its session let go while it was queued (the
// connection closed after a timeout) deletes itself when the reactor hands it back.
struct PgWait final : net::detail::reactor_op {
  explicit PgWait(engine::Park* p)
      : reactor_op(error_code(), &PgWait::perform_wait, &PgWait::complete_wait), park(p) {}

  // The socket is ready: the session reads. done_and_exhausted tells the reactor that the
  // session drains what the edge announced, so the next wait queues without a read first.
  static status perform_wait(reactor_op*) { return done_and_exhausted; }
  static void complete_wait(void* owner, net::detail::operation* base, const error_code&,
                            std::size_t) {
    auto* w = static_cast<PgWait*>(base);
    w->pending = false;
    if (!w->park) {
      delete w;
    } else if (owner) {  // not Asio's shutdown
      w->park->resume_now();
    }
  }

  engine::Park* park;  // the session's; null once the session let go of it
  bool pending = false;
};

class PgSession final : public engine::UserSession {
 public:
  PgSession(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks),
        w_(w),
        reactor_(net::use_service<Reactor>(w.io)),
        wait_(new PgWait(&park_)),
        prepared_(tasks.steps.size(), 0) {
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
    delete wait_;  // not queued: close() let a queued one go
  }

  void shutdown() noexcept override { close(); }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    OpScope op(w_, op_, step.name_id, planned, step.timeout);
    ErrorInfo e;
    if (!pg_) e = co_await connect(op);
    // The statement's preparation (once per connection), then its run: each sends, then reads
    // until its last result. One loop in this coroutine, so a statement adds no coroutine frame.
    for (bool preparing = !prepared_[index]; e.kind == ErrorKind::kNone; preparing = false) {
      if (!(preparing ? PQsendPrepare(pg_, step.statement.c_str(), step.sql.c_str(),
                                      static_cast<int>(step.params.size()), nullptr)
                      : send_query(step, op.rec))) {
        e = lost();
        break;
      }
      for (int r; e.kind == ErrorKind::kNone && (r = PQflush(pg_)) != 0;) {
        e = r < 0 ? lost() : co_await wait(op, true, true);  // a send the socket did not take
      }
      // The reply cannot be there before the send, so the first wait comes before any read (no
      // read that finds the socket empty); what libpq buffered is parsed first (PQisBusy reads
      // nothing). A later wait follows a read that left the reply incomplete: it re-arms.
      PGresult* res = nullptr;
      for (bool after_read = false; e.kind == ErrorKind::kNone; after_read = true) {
        if (!PQisBusy(pg_)) {
          PGresult* next = PQgetResult(pg_);
          if (!next) {
            if (!res) e = lost();
            break;
          }
          PQclear(res);
          res = next;
          continue;
        }
        if (!op.expired() && start_wait(false, after_read, e)) co_await park_.wait();
        if (op.expired()) {
          e = op.timed_out();
        } else if (e.kind == ErrorKind::kNone && !PQconsumeInput(pg_)) {
          e = lost();
        }
      }
      if (e.kind == ErrorKind::kNone) {
        if (!preparing) {
          e = outcome(step, res, op.rec);
        } else if (PQresultStatus(res) == PGRES_COMMAND_OK) {
          prepared_[index] = 1;
        } else {
          e = sql_error(res);
        }
      }
      PQclear(res);
      if (!preparing) break;
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
    auto* s = static_cast<PgSession*>(self);
    s->park_.wake(s->w_.io);  // the pending wait resumes, sees the op expired and closes
  }

  void close() noexcept {
    detach();
    if (pg_) PQfinish(pg_);
    pg_ = nullptr;
  }

  // Takes the connection's socket out of the worker's reactor. A wait still queued there (the
  // statement timed out) is let go: the reactor hands it back aborted and it deletes itself.
  void detach() noexcept {
    if (fd_ < 0) return;
    if (wait_->pending) {
      wait_->park = nullptr;
      wait_ = new PgWait(&park_);
    }
    // Not `closing`: libpq's own descriptor keeps the socket open, so the registration must be
    // taken out of the epoll set explicitly (EPOLL_CTL_DEL).
    reactor_.deregister_descriptor(fd_, rdata_, false);
    ::close(fd_);
    reactor_.cleanup_descriptor_data(rdata_);
    fd_ = -1;
  }

  // Registers libpq's current socket with the worker's reactor (edge-triggered, once per
  // socket), through a duplicate this session owns: libpq may close its socket (a lost
  // connection) and the number be reused before close() takes the registration out.
  bool attach() {
    detach();
    const int fd = PQsocket(pg_);
    if (fd < 0) return false;
    fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (reactor_.register_descriptor(fd_, rdata_) != 0) {
      ::close(fd_);
      reactor_.cleanup_descriptor_data(rdata_);
      fd_ = -1;
      return false;
    }
    return true;
  }

  // Waits until libpq's socket is readable or (`write`) writable; the failure otherwise.
  net::awaitable<ErrorInfo> wait(OpScope& op, bool write, bool rearm = false) {
    if (op.expired()) co_return op.timed_out();
    ErrorInfo e;
    if (start_wait(write, rearm, e)) co_await park_.wait();
    if (op.expired()) co_return op.timed_out();
    co_return e;
  }

  // wait()'s first half, for callers that park inline: queues the wait with the reactor; true
  // when the caller must park (the wait resumes it), false when `e` is the failure.
  //
  // The registration is edge-triggered: an edge says bytes arrived since the last one. A wait
  // is queued without a system call and without a read first (the reactor tries one only
  // after an edge no wait took), so the first wait for a reply, which cannot be there before
  // the send, costs nothing. libpq reads at most one buffer (8 KiB or more) per
  // PQconsumeInput, though, so bytes may be left in the socket with no edge to come: a wait
  // that may follow such a read (`rearm`: a reply still incomplete after a read, or a send
  // that did not finish), every wait while connecting (a socket just made), and every wait of
  // a TLS or GSS-encrypted connection (a read may leave a record's bytes behind) make the
  // reactor re-arm the registration with epoll_ctl, which reports a socket ready already.
  bool start_wait(bool write, bool rearm, ErrorInfo& e) {
    if (fd_ < 0 || wait_->pending) {
      e = lost();
      return false;
    }
    wait_->ec_ = error_code();
    wait_->pending = true;
    reactor_.start_op(write ? Reactor::write_op : Reactor::read_op, fd_, rdata_, wait_,
                      /*is_continuation=*/true, /*allow_speculative=*/!(rearm || rearm_));
    return true;
  }

  // Renders the parameters into the reused buffers and sends the prepared statement's run.
  bool send_query(const Step& step, stats::Record& rec) {
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
    rec.bytes_out = out + step.statement.size();
    return PQsendQueryPrepared(pg_, step.statement.c_str(), static_cast<int>(step.params.size()),
                               values_.data(), nullptr, nullptr, 0) != 0;
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

  net::awaitable<ErrorInfo> connect(OpScope& op) {
    pg_ = PQconnectStart(tasks_.conninfo.c_str());
    if (!pg_) co_return ErrorInfo{ErrorKind::kConnect, "out of memory", 0, false};
    std::fill(prepared_.begin(), prepared_.end(), 0);
    rearm_ = false;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
      if (PQstatus(pg_) == CONNECTION_BAD || st == PGRES_POLLING_FAILED) {
        const ErrorInfo e = pq_error(connect_kind(PQerrorMessage(pg_)), "");
        close();
        co_return e;
      }
      if (st == PGRES_POLLING_OK) break;
      // libpq may move to another socket while connecting (another address, SSL fallback).
      if (!attach()) {
        close();
        co_return ErrorInfo{ErrorKind::kConnect, "no socket", 0, false};
      }
      const ErrorInfo e = co_await wait(op, st == PGRES_POLLING_WRITING, /*rearm=*/true);
      if (e.kind != ErrorKind::kNone) {
        close();
        co_return e;
      }
      st = PQconnectPoll(pg_);
    }
    // A new registration for the statements, without the connect's interest in writing.
    if (PQsetnonblocking(pg_, 1) != 0 || !attach()) {
      const ErrorInfo e = pq_error(ErrorKind::kConnect, "");
      close();
      co_return e;
    }
    rearm_ = PQsslInUse(pg_) || PQgssEncInUse(pg_);
    co_return ErrorInfo{};
  }

  // libpq says why connecting failed only in words: a TLS failure is libpq's own message about
  // SSL or a certificate ("server does not support SSL, but SSL was required", "SSL error:
  // certificate verify failed", "server certificate for ... does not match host name"), not
  // the server's FATAL (whose pg_hba text may say "SSL encryption").
  static ErrorKind connect_kind(const char* m) {
    if (std::strstr(m, "refused")) return ErrorKind::kRefused;
    if ((std::strstr(m, "SSL") || std::strstr(m, "certificate")) && !std::strstr(m, "FATAL:")) {
      return ErrorKind::kTls;
    }
    return ErrorKind::kConnect;
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
  Reactor& reactor_;  // the worker's
  engine::Park park_;
  PgWait* wait_;                                  // owned; let go by detach() while queued
  int fd_ = -1;                                   // a duplicate of libpq's socket
  Reactor::per_descriptor_data rdata_ = nullptr;  // fd_'s registration with reactor_
  bool rearm_ = false;                            // TLS or GSS encryption: every wait re-arms
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
