// The sql_user hot path over MariaDB/MySQL: libmariadb's non-blocking API on the worker's
// io_context. Every call that may touch the network is a `_start` whose non-zero status names
// what libmariadb waits for (socket readable or writable, or a timeout); the session waits for
// that on a dup() of libmariadb's socket registered with the event loop and resumes the call
// with its `_cont`. Per user one connection, opened by the first task and reopened by the next
// task after it was lost or a statement timed out. Each task's statement is prepared once per
// connection (a MYSQL_STMT per step); parameters are bound in the binary protocol (JSON numbers
// and booleans as numbers, everything else as text); results are stored, then read as text
// and turned into JSON typed by each column's type.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <errmsg.h>
#include <mysql.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
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

constexpr std::size_t kColumnBuffer = 64;  // a column's first text buffer; grows on truncation

// libmariadb's own errors (the connection failed, was lost or misused), not the server's.
bool client_error(unsigned code) noexcept {
  return (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) || code >= CER_MIN_ERROR;
}
// Server errors after which the server closes the connection.
bool closes_connection(unsigned code) noexcept {
  return code == 1053 /* ER_SERVER_SHUTDOWN */ || code == 1927 /* ER_CONNECTION_KILLED */;
}

constexpr unsigned kBinaryCharset = 63;  // MYSQL_FIELD::charsetnr of binary strings and blobs

// A column's text as JSON: integer, decimal, floating point and BIT columns as numbers, MySQL
// JSON columns (and MariaDB ones its metadata marks as json) embedded, binary strings and blobs
// as "\x" and hex digits (as PostgreSQL prints bytea), everything else a string.
void append_value(std::string& out, const MYSQL_FIELD& f, std::string_view v) {
  switch (f.type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
      // A text that would not read as a JSON number (none is expected) stays a string.
      if (!v.empty() && (std::isdigit(static_cast<unsigned char>(v.front())) ||
                         (v.front() == '-' && v.size() > 1))) {
        out += v;
        return;
      }
      break;
    case MYSQL_TYPE_BIT: {  // up to 64 bits, big-endian
      std::uint64_t n = 0;
      for (const char c : v) n = (n << 8) | static_cast<unsigned char>(c);
      out += std::to_string(n);
      return;
    }
    case MYSQL_TYPE_JSON:
      out += v;
      return;
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_VARCHAR: {
      if (f.charsetnr == kBinaryCharset) {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\"\\\\x";
        for (const char c : v) {
          out += kHex[static_cast<unsigned char>(c) >> 4];
          out += kHex[static_cast<unsigned char>(c) & 15];
        }
        out += '"';
        return;
      }
      MARIADB_CONST_STRING format{};
      if (!v.empty() && mariadb_field_attr(&format, &f, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 &&
          std::string_view(format.str, format.length) == "json") {
        out += v;
        return;
      }
      break;
    }
    default:
      break;
  }
  resp::append_json_string(out, v);
}

class MariaSession final : public engine::UserSession {
 public:
  MariaSession(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks), w_(w), sock_(w.io), timer_(w.io), stmts_(tasks.steps.size(), nullptr) {
    std::size_t params = 0, markers = 0;
    for (const auto& s : tasks.steps) {
      params = std::max(params, s.params.size());
      markers = std::max(markers, s.markers.size());
    }
    texts_.resize(params);
    bind_.resize(markers);
    numbers_.resize(markers);
    op_.on_expire = &MariaSession::expire;
    op_.self = this;
    w_.deadlines.add(&op_);
  }
  ~MariaSession() override {
    w_.deadlines.remove(&op_);
    close();
  }

  void shutdown() noexcept override { close(); }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    OpScope op(w_, op_, step.name_id, planned, step.timeout);
    ErrorInfo e;
    if (!my_) e = co_await connect(op);
    if (e.kind == ErrorKind::kNone && !stmts_[index]) e = co_await prepare(op, index);
    if (e.kind == ErrorKind::kNone) e = co_await execute(op, step, stmts_[index]);
    if ((e.kind != ErrorKind::kNone && e.kind != ErrorKind::kSqlError &&
         e.kind != ErrorKind::kAssertion) ||
        lost_) {
      close();  // lost (or the server ends it) or timed out: the next task reconnects
    }
    op.rec.error = e;
    if (op.rec.ok() && w_.keep_bodies > 0) {
      op.rec.text = std::string_view(json_.all).substr(0, w_.keep_bodies);
    }
    op.finish();
  }

 private:
  static void expire(void* self) noexcept {
    auto* s = static_cast<MariaSession*>(self);
    error_code ignored;
    s->sock_.cancel(ignored);  // the pending wait fails
    s->timer_.cancel();
  }

  void close() noexcept {
    error_code ignored;
    sock_.close(ignored);
    if (my_) {
      if (busy_) mariadb_cancel(my_);  // a call left suspended: no goodbye on its socket
      mysql_close(my_);                // detaches the statements: closing them is local
    }
    my_ = nullptr;
    busy_ = false;
    lost_ = false;
    for (MYSQL_STMT*& st : stmts_) {
      if (st) mysql_stmt_close(st);
      st = nullptr;
    }
  }

  // Watches libmariadb's current socket through a duplicate the io_context owns.
  bool attach() {
    error_code ignored;
    sock_.close(ignored);
    const int fd = static_cast<int>(mysql_get_socket(my_));
    if (fd < 0) return false;
    const int own = ::dup(fd);
    if (own < 0) return false;
    sock_.assign(own, ignored);
    return !ignored;
  }

  // Waits for what `status` asks (libmariadb's own timeouts are not set, so the task's timeout
  // bounds every wait); ready_ is what happened.
  net::awaitable<ErrorInfo> wait(OpScope& op, int status, bool connecting) {
    if (op.expired()) co_return op.timed_out();
    // While connecting libmariadb may move to another socket (the next address of a name).
    if ((connecting || !sock_.is_open()) && !attach()) {
      co_return ErrorInfo{ErrorKind::kConnect, "no socket", 0, false};
    }
    error_code ec;
    if (status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT)) {
      const bool read = (status & MYSQL_WAIT_READ) != 0;
      co_await sock_.async_wait(read ? net::posix::stream_descriptor::wait_read
                                     : net::posix::stream_descriptor::wait_write,
                                net::redirect_error(net::use_awaitable, ec));
      ready_ = read ? MYSQL_WAIT_READ : MYSQL_WAIT_WRITE;
    } else {
      timer_.expires_after(std::chrono::milliseconds(mysql_get_timeout_value_ms(my_)));
      co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
      ready_ = MYSQL_WAIT_TIMEOUT;
    }
    if (op.expired()) co_return op.timed_out();
    if (ec && ready_ != MYSQL_WAIT_TIMEOUT) co_return classify_error(ec, "receive");
    co_return ErrorInfo{};
  }

  // Runs a libmariadb call to its end: `status` is what its _start returned, `cont(ready)` its
  // _cont. A wait cut short (the task's timeout) fails the call's pending I/O so libmariadb
  // finishes it before the connection is closed.
  template <class Cont>
  net::awaitable<ErrorInfo> drive(OpScope& op, int status, Cont& cont, bool connecting = false) {
    while (status != 0) {
      busy_ = true;
      const ErrorInfo e = co_await wait(op, status, connecting);
      if (e.kind != ErrorKind::kNone) {
        mariadb_cancel(my_);
        for (int i = 0; status != 0 && i < 16; ++i) status = cont(MYSQL_WAIT_TIMEOUT);
        busy_ = status != 0;
        co_return e;
      }
      status = cont(ready_);
    }
    busy_ = false;
    co_return ErrorInfo{};
  }

  // The failure of a call that returned an error: the server's "SQLSTATE message" as
  // sql_error, or the connection lost.
  ErrorInfo failure(unsigned code, const char* state, const char* text) {
    msg_.clear();
    if (client_error(code)) {
      msg_ = "connection lost: ";
      msg_ += text;
      return {ErrorKind::kReset, w_.intern(msg_), 0, false};
    }
    msg_ = state;
    msg_ += ' ';
    msg_ += text;
    if (closes_connection(code)) lost_ = true;
    return {ErrorKind::kSqlError, w_.intern(msg_), 0, false};
  }
  ErrorInfo stmt_failure(MYSQL_STMT* st) {
    return failure(mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
  }

  net::awaitable<ErrorInfo> connect(OpScope& op) {
    const MariaTarget& t = tasks_.maria;
    my_ = mysql_init(nullptr);
    if (!my_) co_return ErrorInfo{ErrorKind::kConnect, "out of memory", 0, false};
    mysql_options(my_, MYSQL_OPT_NONBLOCK, nullptr);  // libmariadb's default coroutine stack
    mysql_options(my_, MYSQL_SET_CHARSET_NAME, t.charset.c_str());
    set_tls(t);
    MYSQL* ret = nullptr;
    auto cont = [&](int ready) { return mysql_real_connect_cont(&ret, my_, ready); };
    // CLIENT_FOUND_ROWS: an UPDATE counts the rows it matched, as PostgreSQL and SQLAlchemy's
    // MySQL drivers do, not only those it changed.
    const int status = mysql_real_connect_start(
        &ret, my_, t.host.c_str(), t.user.empty() ? nullptr : t.user.c_str(),
        t.password.empty() ? nullptr : t.password.c_str(),
        t.database.empty() ? nullptr : t.database.c_str(), t.port,
        t.unix_socket.empty() ? nullptr : t.unix_socket.c_str(), CLIENT_FOUND_ROWS);
    ErrorInfo e = co_await drive(op, status, cont, /*connecting=*/true);
    if (e.kind == ErrorKind::kNone && !ret) {
      const unsigned code = mysql_errno(my_);
      const char* text = mysql_error(my_);
      if (code == CR_SSL_CONNECTION_ERROR) {
        // "TLS/SSL error: ..." (the handshake or the certificate check failed) or "SSL
        // connection is required..." (the server offers no TLS).
        e = {ErrorKind::kTls, w_.intern(text), 0, false};
      } else if (client_error(code)) {
        // "Can't connect to server on '127.0.0.1' (111)": the errno of connect() in brackets.
        static const std::string refused = "(" + std::to_string(ECONNREFUSED) + ")";
        e = {std::strstr(text, refused.c_str()) ? ErrorKind::kRefused : ErrorKind::kConnect,
             w_.intern(text), 0, false};
      } else {  // the server refused the login: "28000 Access denied for user ..."
        msg_ = mysql_sqlstate(my_);
        msg_ += ' ';
        msg_ += text;
        // MariaDB's require_secure_transport refuses a plain login as "Access denied".
        if (t.tls == MariaTarget::Tls::kOff && code == 1045 /* ER_ACCESS_DENIED_ERROR */) {
          msg_ += " [a plain connection: if the server requires TLS, add ?ssl=true]";
        }
        e = {ErrorKind::kConnect, w_.intern(msg_), 0, false};
      }
    }
    if (e.kind == ErrorKind::kNone && !attach()) {
      e = ErrorInfo{ErrorKind::kConnect, "no socket", 0, false};
    }
    if (e.kind != ErrorKind::kNone) close();
    co_return e;
  }

  // The connection string's TLS options. libmariadb checks the server's certificate chain
  // whenever it has a CA, and MYSQL_OPT_SSL_VERIFY_SERVER_CERT adds the host name check.
  void set_tls(const MariaTarget& t) {
    using Tls = MariaTarget::Tls;
    if (t.tls == Tls::kOff) return;
    auto file = [&](mysql_option o, const std::string& v) {
      if (!v.empty()) mysql_optionsv(my_, o, v.c_str());
    };
    file(MYSQL_OPT_SSL_CA, t.ssl_ca);
    file(MYSQL_OPT_SSL_CAPATH, t.ssl_capath);
    file(MYSQL_OPT_SSL_CERT, t.ssl_cert);
    file(MYSQL_OPT_SSL_KEY, t.ssl_key);
    file(MYSQL_OPT_SSL_CIPHER, t.ssl_cipher);
    const my_bool enforce = 1;  // TLS or no connection
    mysql_optionsv(my_, MYSQL_OPT_SSL_ENFORCE, &enforce);
    const my_bool verify = t.tls == Tls::kVerifyFull;
    mysql_optionsv(my_, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }

  net::awaitable<ErrorInfo> prepare(OpScope& op, std::size_t index) {
    const Step& step = tasks_.steps[index];
    MYSQL_STMT* st = mysql_stmt_init(my_);
    if (!st) co_return ErrorInfo{ErrorKind::kOther, "out of memory", 0, false};
    int rc = 0;
    auto cont = [&](int ready) { return mysql_stmt_prepare_cont(&rc, st, ready); };
    const int status = mysql_stmt_prepare_start(&rc, st, step.sql.data(), step.sql.size());
    ErrorInfo e = co_await drive(op, status, cont);
    if (e.kind == ErrorKind::kNone && rc != 0) e = stmt_failure(st);
    if (e.kind == ErrorKind::kNone && mysql_stmt_param_count(st) != step.markers.size()) {
      msg_ = "07001 the statement has " + std::to_string(mysql_stmt_param_count(st)) +
             " parameter markers but the task binds " + std::to_string(step.markers.size());
      e = {ErrorKind::kSqlError, w_.intern(msg_), 0, false};
    }
    if (e.kind == ErrorKind::kNone) {
      stmts_[index] = st;
      co_return e;
    }
    if (e.kind != ErrorKind::kSqlError || lost_) close();  // then closing `st` is local
    mysql_stmt_close(st);
    co_return e;
  }

  // Binds the step's parameters: numbers as numbers, the rest rendered as text.
  std::uint64_t bind_params(const Step& step) {
    std::uint64_t out = 0;
    for (std::size_t i = 0; i < step.params.size(); ++i) {
      const BoundParam& p = step.params[i];
      if (p.null || p.number != BoundParam::Number::kNo) continue;
      texts_[i].clear();
      p.value.render(texts_[i], *w_.scope);
      out += texts_[i].size();
    }
    for (std::size_t k = 0; k < step.markers.size(); ++k) {
      const BoundParam& p = step.params[step.markers[k]];
      MYSQL_BIND& b = bind_[k];
      b = MYSQL_BIND{};
      if (p.null) {
        b.buffer_type = MYSQL_TYPE_NULL;
      } else if (p.number == BoundParam::Number::kInteger) {
        numbers_[k].integer = p.integer;
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &numbers_[k].integer;
        out += sizeof(long long);
      } else if (p.number == BoundParam::Number::kReal) {
        numbers_[k].real = p.real;
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = &numbers_[k].real;
        out += sizeof(double);
      } else {
        std::string& t = texts_[step.markers[k]];
        b.buffer_type = MYSQL_TYPE_STRING;
        b.buffer = t.data();
        b.buffer_length = t.size();
      }
    }
    return out;
  }

  // Reads a result set into memory (mysql_stmt_store_result).
  net::awaitable<ErrorInfo> store(OpScope& op, MYSQL_STMT* st) {
    int rc = 0;
    auto cont = [&](int ready) { return mysql_stmt_store_result_cont(&rc, st, ready); };
    const ErrorInfo e = co_await drive(op, mysql_stmt_store_result_start(&rc, st), cont);
    if (e.kind == ErrorKind::kNone && rc != 0) co_return stmt_failure(st);
    co_return e;
  }

  net::awaitable<ErrorInfo> execute(OpScope& op, const Step& step, MYSQL_STMT* st) {
    op.rec.bytes_out = bind_params(step);
    if (!step.markers.empty() && mysql_stmt_bind_param(st, bind_.data())) {
      co_return stmt_failure(st);
    }
    int rc = 0;
    auto cont = [&](int ready) { return mysql_stmt_execute_cont(&rc, st, ready); };
    ErrorInfo e = co_await drive(op, mysql_stmt_execute_start(&rc, st), cont);
    if (e.kind != ErrorKind::kNone) co_return e;
    if (rc != 0) co_return stmt_failure(st);
    long long rows = 0;
    json_.begin();
    if (mysql_stmt_field_count(st) == 0) {
      rows = static_cast<long long>(mysql_stmt_affected_rows(st));
    } else {
      e = co_await store(op, st);
      if (e.kind != ErrorKind::kNone) co_return e;
      rows = static_cast<long long>(mysql_stmt_num_rows(st));
      e = read_rows(st, step.needs_rows() || w_.keep_bodies > 0, op.rec);
      mysql_stmt_free_result(st);  // the stored rows: local
      if (e.kind != ErrorKind::kNone) co_return e;
    }
    json_.end();
    // A CALL ends with a status result (and may return several result sets): read them all
    // so the connection is ready for the next statement.
    while (mysql_stmt_more_results(st)) {
      auto next = [&](int ready) { return mysql_stmt_next_result_cont(&rc, st, ready); };
      e = co_await drive(op, mysql_stmt_next_result_start(&rc, st), next);
      if (e.kind != ErrorKind::kNone) co_return e;
      if (rc > 0) co_return stmt_failure(st);
      if (rc < 0) break;
      if (mysql_stmt_field_count(st) > 0) {
        e = co_await store(op, st);
        mysql_stmt_free_result(st);
        if (e.kind != ErrorKind::kNone) co_return e;
      }
    }
    co_return check_rows(step, rows, json_, *w_.scope);
  }

  // Fetches the stored rows as text (into json_ when `want`), counting their bytes.
  ErrorInfo read_rows(MYSQL_STMT* st, bool want, stats::Record& rec) {
    const unsigned cols = st->field_count;
    if (out_.size() < cols) {
      out_.resize(cols);
      bufs_.resize(cols);
      lengths_.resize(cols);
      nulls_.resize(cols);
      errors_.resize(cols);
    }
    for (unsigned c = 0; c < cols; ++c) {
      if (bufs_[c].size() < kColumnBuffer) bufs_[c].resize(kColumnBuffer);
      bind_column(c);
    }
    if (mysql_stmt_bind_result(st, out_.data())) return stmt_failure(st);
    std::uint64_t in = 0;
    for (;;) {
      const int r = mysql_stmt_fetch(st);  // from the stored result: no I/O
      if (r == MYSQL_NO_DATA) break;
      if (r == 1) return stmt_failure(st);
      if (r == MYSQL_DATA_TRUNCATED) {  // a longer value: grow its buffer, fetch it again
        bool rebind = false;
        for (unsigned c = 0; c < cols; ++c) {
          if (!errors_[c]) continue;
          bufs_[c].resize(lengths_[c] + 1);
          bind_column(c);
          if (mysql_stmt_fetch_column(st, &out_[c], c, 0)) return stmt_failure(st);
          rebind = true;
        }
        if (rebind && mysql_stmt_bind_result(st, out_.data())) return stmt_failure(st);
      }
      if (want) json_.begin_row();
      for (unsigned c = 0; c < cols; ++c) {
        const std::string_view v(bufs_[c].data(), nulls_[c] ? 0 : lengths_[c]);
        in += v.size();
        if (!want) continue;
        json_.key(std::string_view(st->fields[c].name, st->fields[c].name_length));
        if (nulls_[c]) {
          json_.all += "null";
        } else {
          append_value(json_.all, st->fields[c], v);
        }
      }
      if (want) json_.end_row();
    }
    rec.bytes_in = in;
    return {};
  }

  void bind_column(unsigned c) {
    MYSQL_BIND& b = out_[c];
    b = MYSQL_BIND{};
    b.buffer_type = MYSQL_TYPE_STRING;
    b.buffer = bufs_[c].data();
    b.buffer_length = bufs_[c].size();
    b.length = &lengths_[c];
    b.is_null = &nulls_[c];
    b.error = &errors_[c];
  }

  union Number {
    long long integer;
    double real;
  };

  const Tasks& tasks_;
  engine::WorkerContext w_;
  net::posix::stream_descriptor sock_;
  net::steady_timer timer_;  // a libmariadb wait for a timeout only
  MYSQL* my_ = nullptr;
  bool busy_ = false;  // a libmariadb call is suspended, waiting
  bool lost_ = false;  // the server said it closes the connection
  int ready_ = 0;      // what the last wait saw, for the _cont call
  engine::TimedOp op_;
  std::vector<MYSQL_STMT*> stmts_;  // per step: prepared on the current connection
  std::vector<std::string> texts_;  // per parameter: its rendered text
  std::vector<MYSQL_BIND> bind_;    // per marker
  std::vector<Number> numbers_;     // per marker: a numeric parameter's value
  std::vector<MYSQL_BIND> out_;     // per result column, bound as text
  std::vector<std::string> bufs_;
  std::vector<unsigned long> lengths_;
  std::vector<my_bool> nulls_, errors_;
  RowsJson json_;
  std::string msg_;  // an error message being built (failures only)
};

}  // namespace

std::unique_ptr<engine::UserSession> new_mariadb_user(const Tasks& tasks,
                                                      engine::WorkerContext& w) {
  return std::make_unique<MariaSession>(tasks, w);
}

}  // namespace ld::proto::sql
