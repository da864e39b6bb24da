// The mongo_user hot path. libmongoc is blocking, so every operation runs on the run's
// OffloadPool: the user renders its documents into BSON buffers it owns (a static document is
// the BSON compiled once), hands a job to the pool and resumes on its own worker with the
// outcome. The job takes a client from the server's mongoc_client_pool_t, runs the call and
// gives the client back; the rendered inputs and the result live in a block the pool thread
// shares with the session, so a user that goes away while its call runs leaves nothing
// dangling. The time the call waited for a pool thread and for a client is blocked time: the
// record's start moves past it, so latency (from planned) includes it and service time does not.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/op_scope.hpp"
#include "mongo_impl.hpp"

namespace ld::proto::mongo {

bool connect_refused(const std::string& host, std::uint16_t port, int wait_ms) noexcept {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || !res) return false;
  bool refused = false;
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, wait_ms) == 1) {
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    refused = err == ECONNREFUSED;
    close(fd);
  }
  freeaddrinfo(res);
  return refused;
}

namespace {

using stats::ErrorInfo;
using stats::ErrorKind;

enum class Outcome : std::uint8_t { kOk, kDriverError, kBadDocument };

// A BSON buffer of the session, reinitialised per request (bson_t must not move once made).
struct Buf {
  Buf() : b(bson_new()) {}
  ~Buf() { bson_destroy(b); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  bson_t* b;
  std::string text;  // the rendered JSON
};

// What the pool thread and the worker share for one user.
struct Call {
  // In: the rendered names and documents of the running operation.
  std::string database, collection;
  const bson_t* filter = nullptr;
  const bson_t* document = nullptr;
  const bson_t* update = nullptr;
  // insert_many's documents (const bson_t*; void* because a template argument drops bson_t's
  // alignment attribute).
  std::vector<const void*> documents;
  bool want_json = false;
  // Out.
  std::string json;  // the result as relaxed extended JSON (when want_json)
  long long found = 0;  // documents returned (find_one, find) or counted (count)
  std::uint64_t bytes_in = 0;
  Nanos client_wait = 0;  // waiting for a client of the pool
  Nanos elapsed = 0;      // the call itself
  bson_error_t error{};
  bool refused = false;  // a failed connect that the probe found refused
  // The session's BSON buffers, here so that they outlive a user that goes away mid-call.
  Buf filter_buf, document_buf, update_buf;
  std::vector<std::unique_ptr<Buf>> documents_buf;  // insert_many
  Buf insert;  // insert_one: the document with an _id in front
};

bool contains(const char* text, const char* what) { return std::strstr(text, what) != nullptr; }

void append_json(std::string& out, const bson_t* b) {
  std::size_t len = 0;
  char* s = bson_as_relaxed_extended_json(b, &len);
  if (s) {
    out.append(s, len);
    bson_free(s);
  } else {
    out += "null";  // not representable (invalid UTF-8 from the server)
  }
}

// Runs one operation on the pool thread. Returns kDriverError with c.error set on failure.
Outcome execute(Call& c, Server& server, const Step& step) {
  c.json.clear();
  c.found = 0;
  c.bytes_in = 0;
  const Nanos t0 = steady_now();
  mongoc_client_t* client = mongoc_client_pool_pop(server.pool);
  const Nanos t1 = steady_now();
  c.client_wait = t1 - t0;
  mongoc_collection_t* coll =
      mongoc_client_get_collection(client, c.database.c_str(), c.collection.c_str());
  bool ok = true;
  bson_t reply = BSON_INITIALIZER;
  bool has_reply = false;
  switch (step.method) {
    case Method::kFindOne:
    case Method::kFind: {
      bson_t opts = BSON_INITIALIZER;
      if (step.method == Method::kFindOne) {
        BSON_APPEND_INT64(&opts, "limit", 1);
        BSON_APPEND_BOOL(&opts, "singleBatch", true);
      } else if (step.limit > 0) {
        BSON_APPEND_INT64(&opts, "limit", step.limit);
      }
      mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(coll, c.filter, &opts, nullptr);
      bson_destroy(&opts);
      const bool list = step.method == Method::kFind;
      if (c.want_json && list) c.json += '[';
      const bson_t* doc = nullptr;
      while (mongoc_cursor_next(cursor, &doc)) {
        c.bytes_in += doc->len;
        if (c.want_json) {
          if (c.found > 0) c.json += ',';
          append_json(c.json, doc);
        }
        ++c.found;
      }
      if (c.want_json) {
        if (list) c.json += ']';
        if (!list && c.found == 0) c.json = "null";
      }
      ok = !mongoc_cursor_error(cursor, &c.error);
      mongoc_cursor_destroy(cursor);
      break;
    }
    case Method::kInsertOne: {
      const bson_t* doc = c.document;
      if (!bson_has_field(doc, "_id")) {  // an _id of ours, so the result can name it
        bson_reinit(c.insert.b);
        bson_oid_t oid;
        bson_oid_init(&oid, nullptr);
        BSON_APPEND_OID(c.insert.b, "_id", &oid);
        bson_concat(c.insert.b, doc);
        doc = c.insert.b;
      }
      has_reply = true;
      ok = mongoc_collection_insert_one(coll, doc, nullptr, &reply, &c.error);
      if (ok) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "_id")) {
          BSON_APPEND_VALUE(&reply, "insertedId", bson_iter_value(&it));
        }
      }
      break;
    }
    case Method::kInsertMany:
      has_reply = true;
      ok = mongoc_collection_insert_many(coll, reinterpret_cast<const bson_t**>(c.documents.data()),
                                         c.documents.size(), nullptr, &reply, &c.error);
      break;
    case Method::kUpdateOne: {
      bson_t opts = BSON_INITIALIZER;
      if (step.upsert) BSON_APPEND_BOOL(&opts, "upsert", true);
      has_reply = true;
      ok = mongoc_collection_update_one(coll, c.filter, c.update, &opts, &reply, &c.error);
      bson_destroy(&opts);
      break;
    }
    case Method::kDeleteOne:
      has_reply = true;
      ok = mongoc_collection_delete_one(coll, c.filter, nullptr, &reply, &c.error);
      break;
    case Method::kCount: {
      const int64_t n =
          mongoc_collection_count_documents(coll, c.filter, nullptr, nullptr, nullptr, &c.error);
      ok = n >= 0;
      if (ok) {
        c.found = n;
        if (c.want_json) {
          c.json = "{\"count\": ";
          c.json += std::to_string(n);
          c.json += '}';
        }
      }
      break;
    }
  }
  if (has_reply) {
    if (ok) c.bytes_in = reply.len;
    if (ok && c.want_json) append_json(c.json, &reply);
    bson_destroy(&reply);
  }
  mongoc_collection_destroy(coll);
  mongoc_client_pool_push(server.pool, client);
  c.elapsed = steady_now() - t1;
  c.refused = false;
  if (!ok && (c.error.domain == MONGOC_ERROR_SERVER_SELECTION ||
              c.error.domain == MONGOC_ERROR_STREAM) &&
      contains(c.error.message, "Failed to connect") && !server.first_host.empty()) {
    c.refused = connect_refused(server.first_host, server.first_port, 100);
  }
  return ok ? Outcome::kOk : Outcome::kDriverError;
}

class MongoSession final : public engine::UserSession {
 public:
  MongoSession(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks), w_(w), call_(std::make_shared<Call>()) {
    std::size_t docs = 0;
    for (const auto& s : tasks.steps) docs = std::max(docs, s.documents.size());
    for (std::size_t i = 0; i < docs; ++i) call_->documents_buf.push_back(std::make_unique<Buf>());
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    OpScope op(w_, step.name_id, planned, step.timeout);
    Call& c = *call_;
    c.database.clear();
    step.database.render(c.database, *w_.scope);
    c.collection.clear();
    step.collection.render(c.collection, *w_.scope);
    std::uint64_t out = 0;
    bool rendered = true;
    auto doc = [&](const BsonTemplate& t, Buf& buf) -> const bson_t* {
      if (!rendered) return nullptr;
      const bson_t* b = t.render(*w_.scope, buf.text, buf.b, &c.error);
      if (!b) {
        rendered = false;
        return nullptr;
      }
      out += b->len;
      return b;
    };
    c.filter = c.document = c.update = nullptr;
    switch (step.method) {
      case Method::kInsertOne:
        c.document = doc(step.document, c.document_buf);
        break;
      case Method::kInsertMany:
        c.documents.clear();
        for (std::size_t i = 0; i < step.documents.size(); ++i) {
          c.documents.push_back(doc(step.documents[i], *c.documents_buf[i]));
        }
        break;
      case Method::kUpdateOne:
        c.filter = doc(step.filter, c.filter_buf);
        c.update = doc(step.update, c.update_buf);
        break;
      default:
        c.filter = doc(step.filter, c.filter_buf);
    }
    op.rec.bytes_out = out;
    if (!rendered) {
      // A placeholder's value made the document something libbson refuses: nothing is sent.
      op.rec.bytes_out = 0;
      op.rec.error = {ErrorKind::kInvalidRequest,
                      "the document is not valid JSON once its placeholders were rendered", 0,
                      false};
      op.finish();
      co_return;
    }
    c.want_json = step.checks || w_.keep_bodies > 0;
    Nanos pool_wait = 0;
    auto job = [call = call_, server = tasks_.servers[step.server].get(), st = &step] {
      return execute(*call, *server, *st);
    };
    const Outcome o = co_await tasks_.pool->run(w_, std::move(job), &pool_wait);
    // Blocked time: waiting for a pool thread and for a client is not the server's time.
    op.rec.start += pool_wait + c.client_wait;
    if (o != Outcome::kOk) {
      op.rec.bytes_out = 0;
      op.rec.error = driver_error(c, step);
    } else {
      op.rec.bytes_in = c.bytes_in;
      check(step, c, op);
    }
    op.finish();
  }

 private:
  void check(const Step& step, const Call& c, OpScope& op) {
    if (step.expect_min >= 0 && c.found < step.expect_min) {
      op.rec.error = {ErrorKind::kAssertion, step.expect_message.c_str(), 0, false};
      return;
    }
    if (step.checks) {
      if (const char* msg = step.checks->apply(checks::ResponseView{0, c.json, {}}, *w_.scope)) {
        op.rec.error = {ErrorKind::kAssertion, msg, 0, false};
        return;
      }
    }
    if (w_.keep_bodies > 0) op.rec.text = std::string_view(c.json).substr(0, w_.keep_bodies);
  }

  // What a libmongoc error means: connection refused and timeouts as for every protocol, the
  // rest (server errors, write errors) kind mongo_error with the driver's text.
  ErrorInfo driver_error(const Call& c, const Step& step) {
    const bson_error_t& e = c.error;
    const char* m = e.message;
    if (e.domain == MONGOC_ERROR_SERVER_SELECTION || e.domain == MONGOC_ERROR_STREAM) {
      if (c.refused || contains(m, "refused")) return {ErrorKind::kRefused, w_.intern(m), 0, false};
      if (contains(m, "Failed to connect")) return {ErrorKind::kConnect, w_.intern(m), 0, false};
      if (contains(m, "timed out") || contains(m, "Timed out") || contains(m, "expired") ||
          c.elapsed >= step.timeout) {
        return {ErrorKind::kTimeout, w_.intern(m), 0, false};
      }
      if (e.domain == MONGOC_ERROR_SERVER_SELECTION || e.code == MONGOC_ERROR_STREAM_CONNECT ||
          e.code == MONGOC_ERROR_STREAM_NAME_RESOLUTION) {
        return {ErrorKind::kConnect, w_.intern(m), 0, false};
      }
      return {ErrorKind::kReset, w_.intern(m), 0, false};
    }
    if (e.domain == MONGOC_ERROR_BSON ||
        (e.domain == MONGOC_ERROR_COMMAND && e.code == MONGOC_ERROR_COMMAND_INVALID_ARG)) {
      return {ErrorKind::kInvalidRequest, w_.intern(m), 0, false};
    }
    std::string text = "code ";
    text += std::to_string(e.code);
    text += ": ";
    text += m;
    return {ErrorKind::kMongoError, w_.intern(text), static_cast<int>(e.code), false};
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::shared_ptr<Call> call_;
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<MongoSession>(*this, worker);
}

void Tasks::start_run(unsigned) {
  init_driver();
  for (auto& s : servers) {
    bson_error_t error;
    mongoc_uri_t* uri = mongoc_uri_new_with_error(s->url.c_str(), &error);
    if (!uri) {
      end_run();
      throw std::runtime_error("bad MongoDB URL '" + s->url + "': " + error.message);
    }
    // The task timeouts unless the URL sets them.
    auto set = [&](const char* option, long long ms) {
      if (!mongoc_uri_has_option(uri, option)) {
        mongoc_uri_set_option_as_int32(uri, option, static_cast<int32_t>(std::min<long long>(ms, INT32_MAX)));
      }
    };
    set(MONGOC_URI_SERVERSELECTIONTIMEOUTMS, s->selection_timeout_ms);
    set(MONGOC_URI_CONNECTTIMEOUTMS, s->selection_timeout_ms);
    set(MONGOC_URI_SOCKETTIMEOUTMS, s->socket_timeout_ms);
    if (const mongoc_host_list_t* h = mongoc_uri_get_hosts(uri)) {
      s->first_host = h->host;
      s->first_port = h->port;
    }
    s->pool = mongoc_client_pool_new(uri);
    mongoc_uri_destroy(uri);
    if (!s->pool) {
      end_run();
      throw std::runtime_error("libmongoc refused the URL '" + s->url + "'");
    }
    mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(s->pool, "loaddensity");
    mongoc_client_pool_max_size(s->pool, clients);
  }
  pool = std::make_unique<engine::OffloadPool>(clients);
}

void Tasks::end_run() noexcept {
  if (pool) pool->stop();
  for (auto& s : servers) {
    if (s->pool) mongoc_client_pool_destroy(s->pool);
    s->pool = nullptr;
  }
}

Tasks::~Tasks() { end_run(); }

}  // namespace ld::proto::mongo
