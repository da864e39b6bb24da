// The mqtt_user session. Each user owns one Paho MQTT C asynchronous client (MQTTAsync). Paho
// runs every client of the process on its own two threads (one sends, one receives), so users
// cost a socket and a client, never a thread. Paho calls back on those threads; the session
// never blocks on them:
//   - an operation (connect, publish, subscribe, unsubscribe, disconnect) hands Paho a small
//     context holding the completer of an engine::OneShot, and the user waits on the OneShot
//     until Paho's success or failure callback delivers, or the operation's timeout (the
//     worker's DeadlineSweeper) gives up; a late callback is dropped by the OneShot;
//   - messages go into the user's engine::Inbox (bounded by LD_start_test `mqtt_inbox`; a
//     full inbox drops and counts), which `wait` tasks read on the worker. The Paho message is
//     kept as Paho allocated it (no copy) and freed once read.
// A client whose user ended or changed client id is disconnected and kept by its worker for a
// few seconds before it is destroyed, so no Paho thread can still be calling into it.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <MQTTAsync.h>
#include <MQTTReasonCodes.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>

#include "common/connect.hpp"
#include "common/op_scope.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "mqtt_impl.hpp"

namespace ld::proto::mqtt {

namespace {

using stats::ErrorInfo;
using stats::ErrorKind;

// A message as Paho handed it over (owned, freed with Paho's allocator), or, with no message, a
// "connection lost" marker.
struct Received {
  MQTTAsync_message* msg = nullptr;
  char* topic = nullptr;
  Nanos at = 0;  // when Paho delivered it

  Received() = default;
  Received(MQTTAsync_message* m, char* t, Nanos a) : msg(m), topic(t), at(a) {}
  Received(Received&& o) noexcept
      : msg(std::exchange(o.msg, nullptr)), topic(std::exchange(o.topic, nullptr)), at(o.at) {}
  Received& operator=(Received&& o) noexcept {
    if (this != &o) {
      reset();
      msg = std::exchange(o.msg, nullptr);
      topic = std::exchange(o.topic, nullptr);
      at = o.at;
    }
    return *this;
  }
  ~Received() { reset(); }
  void reset() noexcept {
    if (msg) MQTTAsync_freeMessage(&msg);
    if (topic) MQTTAsync_free(topic);
    msg = nullptr;
    topic = nullptr;
  }
  std::string_view payload() const noexcept {
    if (!msg || !msg->payload) return {};
    return {static_cast<const char*>(msg->payload), static_cast<std::size_t>(msg->payloadlen)};
  }
};

// What Paho's callback said about one operation.
struct Result {
  bool ok = false;
  int code = 0;    // Paho's code (MQTTASYNC_*), or a 3.1.1 CONNACK return code
  int reason = 0;  // an MQTT 5 reason code, or 0x80 for a refused 3.1.1 subscription
  char text[128] = {};
};
using Done = engine::OneShot<Result>;

enum class Op : std::uint8_t { kConnect, kPublish, kSubscribe, kUnsubscribe, kDisconnect };

// One operation's hand-over; Paho owns it between the call and its callback.
struct OpCtx {
  Done::Completer done;
  Op op;
};

void deliver(void* context, const Result& r) {
  auto* c = static_cast<OpCtx*>(context);
  c->done.complete(r);
  delete c;
}
void copy_text(Result& r, const char* m) {
  if (m) std::snprintf(r.text, sizeof r.text, "%s", m);
}
void on_success(void* context, MQTTAsync_successData* d) {
  Result r;
  r.ok = true;
  if (static_cast<OpCtx*>(context)->op == Op::kSubscribe && d && d->alt.qos == 0x80) {
    r.ok = false;
    r.reason = 0x80;
  }
  deliver(context, r);
}
void on_success5(void* context, MQTTAsync_successData5* d) {
  Result r;
  r.ok = true;
  if (d && d->reasonCode >= 0x80) {
    r.ok = false;
    r.reason = d->reasonCode;
  }
  deliver(context, r);
}
void on_failure(void* context, MQTTAsync_failureData* d) {
  Result r;
  if (d) {
    r.code = d->code;
    copy_text(r, d->message);
  }
  deliver(context, r);
}
void on_failure5(void* context, MQTTAsync_failureData5* d) {
  Result r;
  if (d) {
    r.code = d->code;
    r.reason = d->reasonCode;
    copy_text(r, d->message);
  }
  deliver(context, r);
}

// Sets a response/connect/disconnect option block's callbacks for the protocol version.
template <class Opts>
void set_callbacks(Opts& o, bool v5, OpCtx* ctx) {
  o.context = ctx;
  if (v5) {
    o.onSuccess5 = &on_success5;
    o.onFailure5 = &on_failure5;
  } else {
    o.onSuccess = &on_success;
    o.onFailure = &on_failure;
  }
}

// One Paho client: the callbacks' context, so it lives until no Paho thread can call it.
struct Client {
  MQTTAsync handle = nullptr;
  engine::Inbox<Received>::Sender inbox;
  std::atomic<bool> connected{false};
  bool v5 = false;
  std::size_t conn = 0;
  std::string client_id;
  Nanos retired = 0;
  // OpenSSL's reason for a failed handshake, written by Paho's thread before it reports the
  // failure (so read after the OneShot delivered it).
  char tls_error[160] = {};

  Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    if (handle) MQTTAsync_destroy(&handle);
  }
};

int on_message(void* context, char* topic, int, MQTTAsync_message* m) {
  // Dropped (and freed) when the user's inbox is full.
  static_cast<Client*>(context)->inbox.push(Received(m, topic, steady_now()));
  return 1;  // the message is ours now
}
void on_lost(void* context, char*) {
  auto* c = static_cast<Client*>(context);
  c->connected.store(false, std::memory_order_release);
  c->inbox.push(Received{});
}

int on_tls_error(const char* str, std::size_t len, void* context) {
  auto* c = static_cast<Client*>(context);
  if (c->tls_error[0] == 0 && str) {
    std::string_view e(str, len);
    while (!e.empty() && (e.back() == '\n' || e.back() == '\r')) e.remove_suffix(1);
    // "<thread>:error:0A000086:SSL routines:<function>:certificate verify failed:<file>..."
    // -> the reason.
    if (const std::size_t at = e.find("error:"); at != std::string_view::npos) e.remove_prefix(at);
    std::size_t colons = 0, from = 0, to = e.size();
    for (std::size_t i = 0; i < e.size(); ++i) {
      if (e[i] != ':') continue;
      ++colons;
      if (colons == 4) from = i + 1;
      if (colons == 5) to = i;
    }
    if (colons >= 4) e = e.substr(from, to - from);
    std::snprintf(c->tls_error, sizeof c->tls_error, "%.*s", static_cast<int>(e.size()), e.data());
  }
  return 0;
}

// Clients of ended users, kept until no Paho thread can still call into them.
constexpr Nanos kRetireDelay = 2 * kNanosPerSecond;
struct WorkerState {
  std::deque<std::unique_ptr<Client>> retired;

  void retire(std::unique_ptr<Client> c) {
    const Nanos now = steady_now();
    if (c->connected.exchange(false)) {
      MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
      MQTTAsync_disconnect(c->handle, &o);
    }
    c->retired = now;
    retired.push_back(std::move(c));
    while (!retired.empty() && retired.front()->retired + kRetireDelay < now) retired.pop_front();
  }
};

std::atomic<std::uint32_t> g_sessions{0};

constexpr const char* kConnack[] = {
    "",
    "CONNACK: unacceptable protocol version",
    "CONNACK: identifier rejected",
    "CONNACK: server unavailable",
    "CONNACK: bad user name or password",
    "CONNACK: not authorized",
};
constexpr ErrorInfo kLost{ErrorKind::kReset, "connection closed by the broker", 0, false};
constexpr ErrorInfo kDropped{ErrorKind::kOther,
                             "messages dropped: the user's inbox was full (mqtt_inbox)", 0, false};

const char* op_label(Op op) {
  switch (op) {
    case Op::kConnect:
      return "CONNACK";
    case Op::kPublish:
      return "PUBACK";
    case Op::kSubscribe:
      return "SUBACK";
    case Op::kUnsubscribe:
      return "UNSUBACK";
    case Op::kDisconnect:
      return "DISCONNECT";
  }
  return "";
}

char hex_digit(unsigned v) { return "0123456789abcdef"[v & 15]; }
void put_hex(std::string& out, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i)
    out.push_back(hex_digit(static_cast<unsigned>(v >> (4 * i))));
}
bool get_hex(std::string_view s, std::uint64_t& v) {
  v = 0;
  for (const char ch : s) {
    unsigned d;
    if (ch >= '0' && ch <= '9')
      d = ch - '0';
    else if (ch >= 'a' && ch <= 'f')
      d = ch - 'a' + 10;
    else
      return false;
    v = (v << 4) | d;
  }
  return true;
}

class Session final : public engine::UserSession {
 public:
  Session(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks),
        w_(w),
        inbox_(w_, tasks.inbox),
        id_(g_sessions.fetch_add(1, std::memory_order_relaxed)),
        default_id_("ld-" + std::to_string(::getpid()) + "-" + std::to_string(id_)) {}

  ~Session() override { shutdown(); }

  void shutdown() noexcept override {
    inbox_.close();
    if (client_) retire();
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& st = tasks_.steps[index];
    if (st.method == Method::kConnect) {
      co_await connect(st, st.name_id, planned);
      co_return;
    }
    if (st.method == Method::kDisconnect) {
      co_await disconnect(st, planned);
      co_return;
    }
    if (!connected()) {  // first use: connect as the original's user did on start
      if (!(co_await connect(st, tasks_.connect_name_id, planned))) co_return;
      planned = steady_now();
    }
    switch (st.method) {
      case Method::kPublish:
        co_await publish(st, index, planned);
        break;
      case Method::kSubscribe:
      case Method::kUnsubscribe:
        co_await subscription(st, planned);
        break;
      case Method::kReceive:
        co_await receive(st, planned);
        break;
      default:
        break;
    }
  }

 private:
  bool connected() const noexcept {
    return client_ && client_->connected.load(std::memory_order_acquire);
  }

  void retire() {
    auto* ws = static_cast<WorkerState*>(w_.worker_state);
    if (ws) {
      ws->retire(std::move(client_));
    } else {
      client_.reset();
    }
  }

  ErrorInfo failure(const Result& r, Op op) {
    if (op == Op::kConnect && r.reason >= 0x80) {
      return {ErrorKind::kConnect,
              w_.intern(std::string("CONNACK: ") +
                        MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(r.reason))),
              r.reason, false};
    }
    if (op == Op::kConnect && r.code >= 1 && r.code <= 5) {
      return {ErrorKind::kConnect, kConnack[r.code], r.code, false};
    }
    if (r.reason >= 0x80) {
      return {ErrorKind::kOther,
              w_.intern(std::string(op_label(op)) + ": " +
                        MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(r.reason))),
              r.reason, false};
    }
    if (r.code == MQTTASYNC_DISCONNECTED || r.code == MQTTASYNC_OPERATION_INCOMPLETE) return kLost;
    const std::string text = r.text[0] ? std::string(r.text) : MQTTAsync_strerror(r.code);
    return {ErrorKind::kOther, w_.intern(std::string(op_label(op)) + ": " + text), r.code, false};
  }

  // A connect that got no CONNACK: Paho only says "TCP/TLS connect failure", so a TCP connect
  // of our own (failure path only) tells refused and unreachable apart; when TCP works, the
  // TLS handshake (its OpenSSL reason from Paho's error callback) or the MQTT exchange failed.
  net::awaitable<ErrorInfo> connect_failure(const Result& r, const ConnSpec& c, Nanos deadline) {
    if (r.code >= 1 && r.code <= 5) co_return failure(r, Op::kConnect);  // a CONNACK code
    if (r.reason >= 0x80) co_return failure(r, Op::kConnect);
    const Nanos left = deadline - steady_now();
    if (left > 0) {
      net::ip::tcp::socket sock(w_.io);
      engine::TimedOp probe;
      probe.self = &sock;
      probe.on_expire = [](void* s) noexcept {
        boost::system::error_code ignored;
        static_cast<net::ip::tcp::socket*>(s)->close(ignored);
      };
      w_.deadlines.add(&probe);
      ErrorInfo e;
      {
        OpScope scope(w_, probe, 0, 0, left);  // never recorded: it only times the check
        e = co_await connect_tcp(sock, c.host, c.port, c.resolved, scope);
        scope.stop();
      }
      w_.deadlines.remove(&probe);
      if (e.kind == ErrorKind::kTimeout) e = kTimedOut;
      if (e.kind != ErrorKind::kNone) co_return e;
    }
    if (c.tls) {
      const char* why = client_ && client_->tls_error[0] ? client_->tls_error : nullptr;
      co_return ErrorInfo{
          ErrorKind::kTls,
          why ? w_.intern(std::string("TLS handshake failed: ") + why) : "TLS handshake failed", 0,
          false};
    }
    const std::string text = r.text[0] ? std::string(r.text) : MQTTAsync_strerror(r.code);
    co_return ErrorInfo{ErrorKind::kConnect, w_.intern("connect: " + text), r.code, false};
  }

  // Waits for the operation started with `ctx`'s completer; fills op.rec.error on failure.
  net::awaitable<bool> await_result(OpScope& op, Done& done, Nanos deadline, Op what,
                                    const ConnSpec* conn = nullptr) {
    std::optional<Result> r = co_await done.wait(deadline);
    if (!r) {
      op.rec.error = *w_.aborting ? engine::kAbortedError : op.timed_out();
      co_return false;
    }
    if (!r->ok) {
      op.rec.error = conn ? co_await connect_failure(*r, *conn, deadline) : failure(*r, what);
      co_return false;
    }
    co_return true;
  }

  // A Paho call that refused to start the operation.
  ErrorInfo call_failed(int rc, Op what) {
    if (rc == MQTTASYNC_DISCONNECTED) {
      if (client_) client_->connected.store(false);
      return kLost;
    }
    return {ErrorKind::kOther,
            w_.intern(std::string(op_label(what)) + ": " + MQTTAsync_strerror(rc)), rc, false};
  }

  net::awaitable<bool> connect(const Step& st, std::uint32_t name_id, Nanos planned) {
    OpScope op(w_, name_id, planned, st.timeout);
    const ConnSpec& c = tasks_.conns[st.conn];
    const std::string* cid = &default_id_;
    if (c.has_client_id) {
      cid_.clear();
      c.client_id.render(cid_, *w_.scope);
      cid = &cid_;
    }
    // A new connection: a client with other settings or still connected is retired.
    if (client_ && (client_->conn != st.conn || client_->client_id != *cid || connected()))
      retire();
    if (!client_) {
      auto cl = std::make_unique<Client>();
      cl->inbox = inbox_.sender();
      cl->conn = st.conn;
      cl->client_id = *cid;
      cl->v5 = c.version == 5;
      MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
      co.MQTTVersion = cl->v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
      int rc = MQTTAsync_createWithOptions(&cl->handle, c.uri.c_str(), cid->c_str(),
                                           MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co);
      if (rc == MQTTASYNC_SUCCESS) {
        rc = MQTTAsync_setCallbacks(cl->handle, cl.get(), &on_lost, &on_message, nullptr);
      }
      if (rc != MQTTASYNC_SUCCESS) {
        op.rec.error = {ErrorKind::kInvalidRequest,
                        w_.intern(std::string("client setup failed: ") + MQTTAsync_strerror(rc)),
                        rc, false};
        op.finish();
        co_return false;
      }
      client_ = std::move(cl);
    }
    const bool v5 = client_->v5;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    if (v5) {
      o = MQTTAsync_connectOptions_initializer5;
      o.cleanstart = c.clean_session;
    } else {
      o.cleansession = c.clean_session;
    }
    o.MQTTVersion = v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    o.keepAliveInterval = c.keepalive;
    o.connectTimeout =
        std::max(1, static_cast<int>(std::ceil(static_cast<double>(st.timeout) / kNanosPerSecond)));
    o.automaticReconnect = 0;
    if (c.has_username) {
      user_.clear();
      c.username.render(user_, *w_.scope);
      o.username = user_.c_str();
    }
    if (c.has_password) {
      pass_.clear();
      c.password.render(pass_, *w_.scope);
      o.binarypwd.len = static_cast<int>(pass_.size());
      o.binarypwd.data = pass_.data();
    }
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (c.tls) {
      ssl.enableServerCertAuth = c.verify;
      ssl.verify = c.verify;
      if (!c.ca_file.empty()) ssl.trustStore = c.ca_file.c_str();
      client_->tls_error[0] = 0;
      ssl.ssl_error_cb = &on_tls_error;
      ssl.ssl_error_context = client_.get();
      o.ssl = &ssl;
    }
    Done done(w_);
    auto* ctx = new OpCtx{done.completer(), Op::kConnect};
    set_callbacks(o, v5, ctx);
    const int rc = MQTTAsync_connect(client_->handle, &o);
    if (rc != MQTTASYNC_SUCCESS) {
      delete ctx;
      op.rec.error = call_failed(rc, Op::kConnect);
    } else if (co_await await_result(op, done, op.rec.start + st.timeout, Op::kConnect, &c)) {
      client_->connected.store(true, std::memory_order_release);
    }
    // A connect that failed or timed out may still be under way in Paho: the next one starts
    // from a fresh client.
    if (!op.rec.ok() && client_) retire();
    co_return op.finish();
  }

  net::awaitable<void> disconnect(const Step& st, Nanos planned) {
    OpScope op(w_, st.name_id, planned, st.timeout);
    if (connected()) {  // a user that is not connected has nothing to do
      client_->connected.store(false, std::memory_order_release);
      const bool v5 = client_->v5;
      MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
      if (v5) o = MQTTAsync_disconnectOptions_initializer5;
      Done done(w_);
      auto* ctx = new OpCtx{done.completer(), Op::kDisconnect};
      set_callbacks(o, v5, ctx);
      const int rc = MQTTAsync_disconnect(client_->handle, &o);
      if (rc != MQTTASYNC_SUCCESS) {
        delete ctx;
        op.rec.error = call_failed(rc, Op::kDisconnect);
      } else {
        co_await await_result(op, done, op.rec.start + st.timeout, Op::kDisconnect);
      }
    }
    op.finish();
  }

  const char* topic_of(const Step& st) {
    if (st.topic.is_static()) return st.topic.text().c_str();
    topic_.clear();
    st.topic.render(topic_, *w_.scope);
    return topic_.c_str();
  }

  net::awaitable<void> publish(const Step& st, std::size_t index, Nanos planned) {
    OpScope op(w_, st.name_id, planned, st.timeout);
    const char* topic = topic_of(st);
    const char* perr = nullptr;
    std::string_view body = st.payload.render(*w_.scope, ptext_, pdec_, perr);
    if (perr) {
      op.rec.error = {ErrorKind::kInvalidRequest, perr, 0, false};
      op.finish();
      co_return;
    }
    if (st.delivery) {
      stamped_.assign(kStampPrefix);
      put_hex(stamped_, static_cast<std::uint64_t>(op.rec.start), 16);
      put_hex(stamped_, id_, 8);
      put_hex(stamped_, index, 4);
      stamped_.push_back(':');
      stamped_.append(body);
      body = stamped_;
    }
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = const_cast<char*>(body.data());
    m.payloadlen = static_cast<int>(body.size());
    m.qos = st.qos;
    m.retained = st.retain;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    Done done(w_);
    auto* ctx = new OpCtx{done.completer(), Op::kPublish};
    set_callbacks(ro, client_->v5, ctx);
    const int rc = MQTTAsync_sendMessage(client_->handle, topic, &m, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
      delete ctx;
      op.rec.error = call_failed(rc, Op::kPublish);
    } else if (co_await await_result(op, done, op.rec.start + st.timeout, Op::kPublish)) {
      op.rec.bytes_out = std::strlen(topic) + body.size();
      // measure: delivery: recorded when the message comes back (publish -> arrival).
      if (st.delivery && !op.aborted()) co_return;
    }
    op.finish();
  }

  net::awaitable<void> subscription(const Step& st, Nanos planned) {
    OpScope op(w_, st.name_id, planned, st.timeout);
    const char* topic = topic_of(st);
    const bool sub = st.method == Method::kSubscribe;
    const Op what = sub ? Op::kSubscribe : Op::kUnsubscribe;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    Done done(w_);
    auto* ctx = new OpCtx{done.completer(), what};
    set_callbacks(ro, client_->v5, ctx);
    const int rc = sub ? MQTTAsync_subscribe(client_->handle, topic, st.qos, &ro)
                       : MQTTAsync_unsubscribe(client_->handle, topic, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
      delete ctx;
      op.rec.error = call_failed(rc, what);
    } else {
      co_await await_result(op, done, op.rec.start + st.timeout, what);
    }
    op.finish();
  }

  // The payload without a delivery stamp; a stamp this session made records publish -> arrival.
  std::string_view unstamp(std::string_view p, Nanos at) {
    if (p.size() < kStampSize || p.substr(0, kStampPrefix.size()) != kStampPrefix ||
        p[kStampSize - 1] != ':') {
      return p;
    }
    std::uint64_t sent, session, index;
    const std::string_view h = p.substr(kStampPrefix.size());
    if (!get_hex(h.substr(0, 16), sent) || !get_hex(h.substr(16, 8), session) ||
        !get_hex(h.substr(24, 4), index)) {
      return p;
    }
    p.remove_prefix(kStampSize);
    if (session == id_ && index < tasks_.steps.size() && tasks_.steps[index].delivery) {
      stats::Record rec;
      rec.name_id = tasks_.steps[index].name_id;
      rec.planned = rec.start = static_cast<Nanos>(sent);
      rec.end = std::max(at, rec.start);
      rec.bytes_out = p.size();
      rec.bytes_in = p.size();
      w_.record(rec);
    }
    return p;
  }

  net::awaitable<void> receive(const Step& st, Nanos planned) {
    OpScope op(w_, st.name_id, planned, st.timeout);
    const Nanos deadline = op.rec.start + st.timeout;
    if (st.has_expect) {
      expect_.clear();
      st.expect.render(expect_, *w_.scope);
    }
    std::size_t matched = 0;
    Received last;
    std::string_view last_payload;
    while (matched < st.count) {
      std::optional<Received> r = co_await inbox_.next(deadline);
      if (!r) {
        op.rec.error = *w_.aborting ? engine::kAbortedError : op.timed_out();
        break;
      }
      if (!r->msg) {
        if (connected()) continue;  // the marker of a connection since replaced
        op.rec.error = kLost;
        break;
      }
      const std::string_view p = unstamp(r->payload(), r->at);
      if (st.has_expect && p.find(expect_) == std::string_view::npos) continue;
      ++matched;
      op.rec.bytes_in += p.size();
      last = std::move(*r);
      last_payload = p;
    }
    op.stop();
    if (op.rec.ok() && st.checks) {
      if (const char* msg =
              st.checks->apply(checks::ResponseView{0, last_payload, {}}, *w_.scope)) {
        op.rec.error = {ErrorKind::kAssertion, msg, 0, false};
      }
    }
    if (op.rec.ok() && w_.keep_bodies > 0) {
      body_.assign(last_payload.substr(0, w_.keep_bodies));
      op.rec.text = body_;
    }
    op.record();
    const std::uint64_t dropped = inbox_.dropped();
    if (dropped != dropped_seen_) {
      dropped_seen_ = dropped;
      stats::Record rec;
      rec.name_id = st.name_id;
      rec.planned = rec.start = rec.end = steady_now();
      rec.error = kDropped;
      w_.record(rec);
    }
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  engine::Inbox<Received> inbox_;
  const std::uint32_t id_;
  const std::string default_id_;
  std::unique_ptr<Client> client_;
  std::uint64_t dropped_seen_ = 0;
  // Reused buffers.
  std::string cid_, user_, pass_, topic_, ptext_, pdec_, stamped_, expect_, body_;
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

void Tasks::start_run(unsigned) {
  static std::once_flag once;
  std::call_once(once, [] {
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 0;  // OpenSSL 1.1+ initialises itself; Asio shares it
    MQTTAsync_global_init(&init);
  });
}

std::shared_ptr<void> Tasks::new_worker_state(engine::WorkerContext&) {
  return std::make_shared<WorkerState>();
}

net::awaitable<void> Tasks::drain_worker(engine::WorkerContext& worker, Nanos deadline) {
  // Give the DISCONNECTs of the clients just retired a moment to go out before they are
  // destroyed with the worker state.
  auto* ws = static_cast<WorkerState*>(worker.worker_state);
  if (!ws || ws->retired.empty()) co_return;
  const Nanos until = std::min(deadline, ws->retired.back()->retired + 200 * kNanosPerMilli);
  const Nanos now = steady_now();
  if (until <= now) co_return;
  net::steady_timer t(worker.io, std::chrono::nanoseconds(until - now));
  co_await t.async_wait(net::use_awaitable);
}

}  // namespace ld::proto::mqtt
