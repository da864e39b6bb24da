// The sql_user hot path over PostgreSQL: libpq in non-blocking mode on the worker's io_context.
// Per user one connection, opened by the first task (PQconnectStart/PQconnectPoll, waiting on a
// duplicate of libpq's socket) and reopened by the next task after it was lost or a statement
// timed out. Each task's statement is prepared once per connection (PQsendPrepare), then run
// with its parameters rendered as text (PQsendQueryPrepared); the rows become JSON only when
// the task checks them or the test keeps bodies.
//
// Readiness comes from a per-worker epoll set (PgPoller) that holds every connection of the
// worker, edge-triggered, registered once per connection; the worker's reactor watches only
// that set's descriptor, through an operation that reads it like a socket receive. A statement
// then costs libpq's send and its read plus a share of one wake-up per batch of ready
// connections, with no epoll_ctl per statement or wake-up (Asio 1.74's async_wait re-arms its
// descriptor with epoll_ctl on every call) and no read that finds the socket empty.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/epoll.h>
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

// The worker's PostgreSQL connections in one edge-triggered epoll set. A session parks on its
// Entry; when the worker's event loop sees the set readable, on_ready() resumes the parked owner
// of each ready connection on its stack, or marks the entry ready for its owner's next wait.
// The set is armed with the reactor only while some session waits (on_ready() arms it again for
// those still parked), so an idle worker's event loop can end. Uses Asio 1.74's reactor
// interface (asio::detail): register_descriptor, start_op and a reactor_op of its own.
class PgPoller : public std::enable_shared_from_this<PgPoller> {
 public:
  struct Entry {
    engine::Park park;
    bool ready = false;  // an edge came while the owner was not waiting
  };
  static constexpr int kBatch = 64;

  explicit PgPoller(net::io_context& io)
      : reactor_(net::use_service<net::detail::reactor>(io)), fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_ >= 0 && reactor_.register_descriptor(fd_, reactor_data_) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~PgPoller() {
    if (fd_ < 0) return;
    reactor_.deregister_descriptor(fd_, reactor_data_, true);  // a pending op ends aborted
    ::close(fd_);
    reactor_.cleanup_descriptor_data(reactor_data_);
  }
  PgPoller(const PgPoller&) = delete;
  PgPoller& operator=(const PgPoller&) = delete;

  bool ok() const noexcept { return fd_ >= 0; }
  int fd() noexcept { return fd_; }

  // Parks the caller on `e` until its connection is ready (or someone wakes `e`).
  auto wait(Entry& e) {
    ++waiting_;
    arm();
    return e.park.wait();
  }
  void resumed() noexcept { --waiting_; }

 private:
  // A "receive" on the set, run by Asio's reactor like a socket receive: a non-blocking
  // epoll_wait on the set. Asio tries it at once and otherwise when the worker's epoll reports
  // the set readable; one that took every ready event (fewer than kBatch) tells the reactor the
  // set is drained, so the next one waits without a system call. An async_wait instead re-arms
  // the set with epoll_ctl every time (Asio 1.74).
  struct ReadyOp : net::detail::reactor_op {
    ReadyOp(int set, std::weak_ptr<PgPoller> owner)
        : reactor_op(error_code(), &ReadyOp::perform_ready, &ReadyOp::complete_ready),
          fd(set),
          poller(std::move(owner)) {}

    static status perform_ready(reactor_op* base) {
      auto* o = static_cast<ReadyOp*>(base);
      o->n = ::epoll_wait(o->fd, o->ev, kBatch, 0);
      if (o->n < 0) {
        if (errno == EINTR) return not_done;
        o->ec_ = error_code(errno, boost::system::system_category());
        return done;
      }
      if (o->n == 0) return not_done;
      return o->n < kBatch ? done_and_exhausted : done;
    }
    static void complete_ready(void* owner, net::detail::operation* base, const error_code&,
                               std::size_t) {
      std::unique_ptr<ReadyOp> o(static_cast<ReadyOp*>(base));
      if (!owner || o->ec_) return;  // Asio's shutdown, or the set closed (the worker's end)
      if (auto p = o->poller.lock()) p->on_ready(o->ev, o->n);
    }

    int fd;
    std::weak_ptr<PgPoller> poller;
    int n = 0;
    epoll_event ev[kBatch];
  };

  // Makes the worker's event loop watch the set (once until it fires).
  void arm() {
    if (armed_ || !ok()) return;
    armed_ = true;
    reactor_.start_op(net::detail::reactor::read_op, fd_, reactor_data_,
                      new ReadyOp(fd_, weak_from_this()), false, true);
  }

  void on_ready(const epoll_event* ev, int n) {
    armed_ = false;
    for (;;) {
      // A resumed session runs until it waits again (it may arm the set again, or close its own
      // connection, which leaves the set; every connection appears once per epoll_wait).
      for (int i = 0; i < n; ++i) {
        auto* e = static_cast<Entry*>(ev[i].data.ptr);
        if (e->park.parked()) {
          e->park.resume_now();
        } else {
          e->ready = true;
        }
      }
      if (n < kBatch) break;
      n = ::epoll_wait(fd(), more_, kBatch, 0);
      ev = more_;
    }
    if (waiting_ > 0) arm();  // sessions whose connection was not ready yet
  }

  net::detail::reactor& reactor_;
  int fd_;  // the epoll set, registered with the worker's reactor
  net::detail::reactor::per_descriptor_data reactor_data_ = nullptr;
  bool armed_ = false;
  std::size_t waiting_ = 0;  // sessions parked in wait()
  epoll_event more_[kBatch];
};

std::shared_ptr<void> new_pg_worker_state(engine::WorkerContext& w) {
  return std::make_shared<PgPoller>(w.io);
}

namespace {

class PgSession final : public engine::UserSession {
 public:
  PgSession(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks),
        w_(w),
        poller_(*static_cast<PgPoller*>(w.worker_state)),
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
        e = r < 0 ? lost() : co_await wait(op, EPOLLOUT, true);  // a send the socket did not take
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
        if (!op.expired() && must_park(EPOLLIN, after_read, e)) {
          co_await poller_.wait(entry_);
          poller_.resumed();
        }
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
    s->entry_.park.wake(s->w_.io);  // the pending wait resumes and sees the op expired
  }

  void close() noexcept {
    detach();
    if (pg_) PQfinish(pg_);
    pg_ = nullptr;
  }

  // Takes the connection's socket out of the worker's set.
  void detach() noexcept {
    if (fd_ >= 0) {
      ::epoll_ctl(poller_.fd(), EPOLL_CTL_DEL, fd_, nullptr);
      ::close(fd_);
    }
    fd_ = -1;
    entry_.ready = false;
  }

  // Puts libpq's current socket in the worker's set, watched for `events`, through a duplicate
  // this session owns: libpq may close its socket (a lost connection) and the number be reused
  // before close() takes the registration out.
  bool attach(std::uint32_t events) {
    detach();
    const int fd = PQsocket(pg_);
    if (fd < 0 || !poller_.ok()) return false;
    fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) return false;
    epoll_event ev{};
    ev.events = events | EPOLLET;
    ev.data.ptr = &entry_;
    if (::epoll_ctl(poller_.fd(), EPOLL_CTL_ADD, fd_, &ev) != 0) {
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    events_ = events;
    return true;
  }

  // Waits until libpq's socket is readable (EPOLLIN) or writable (EPOLLOUT); the failure
  // otherwise. Edge-triggered: an edge says bytes arrived since the last one, and libpq reads
  // at most one buffer (8 KiB or more) per PQconsumeInput, so bytes may be left in the socket
  // with no edge to come. A wait that may follow such a read (`rearm`: a reply still incomplete
  // after a read, or a send that did not finish), a change of direction, and every wait of a
  // TLS or GSS-encrypted connection (a read may leave a record's bytes behind) re-arm the
  // registration with epoll_ctl, which reports a socket that is ready already. The first wait
  // for a reply needs none: the reply's bytes arrive after the send, as an edge.
  net::awaitable<ErrorInfo> wait(OpScope& op, std::uint32_t events, bool rearm = false) {
    if (op.expired()) co_return op.timed_out();
    ErrorInfo e;
    if (must_park(events, rearm, e)) {
      co_await poller_.wait(entry_);
      poller_.resumed();
    }
    if (op.expired()) co_return op.timed_out();
    co_return e;
  }

  // wait()'s first half, for callers that park inline: re-arms when needed; true when the
  // caller must park on the poller, false when an edge came already or `e` is the failure.
  bool must_park(std::uint32_t events, bool rearm, ErrorInfo& e) {
    if (events != events_ || rearm || rearm_) {
      epoll_event ev{};
      ev.events = events | EPOLLET;
      ev.data.ptr = &entry_;
      entry_.ready = false;
      if (::epoll_ctl(poller_.fd(), EPOLL_CTL_MOD, fd_, &ev) != 0) {
        e = lost();
        return false;
      }
      events_ = events;
      return true;
    }
    if (!entry_.ready) return true;
    entry_.ready = false;  // the edge came before this wait: read what it announced
    return false;
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
      const std::uint32_t events = st == PGRES_POLLING_WRITING ? EPOLLOUT : EPOLLIN;
      if (!attach(events)) {
        close();
        co_return ErrorInfo{ErrorKind::kConnect, "no socket", 0, false};
      }
      const ErrorInfo e = co_await wait(op, events);
      if (e.kind != ErrorKind::kNone) {
        close();
        co_return e;
      }
      st = PQconnectPoll(pg_);
    }
    if (PQsetnonblocking(pg_, 1) != 0 || !attach(EPOLLIN)) {
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
  PgPoller& poller_;
  PgPoller::Entry entry_;
  int fd_ = -1;               // a duplicate of libpq's socket, in the worker's set
  std::uint32_t events_ = 0;  // what fd_ is watched for
  bool rearm_ = false;        // TLS or GSS encryption: every wait re-arms
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
