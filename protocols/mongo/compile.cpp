// mongo_user task checking and compilation. `filter`, `document(s)` and `update` are JSON
// (MongoDB's relaxed extended JSON: {"$oid": ...}, {"$numberLong": "..."}) parsed once: a value
// with no per-request placeholder is converted to BSON here, otherwise it becomes a template
// whose placeholders are rendered JSON-escaped per request and converted then. The server URL is
// fixed for the run and checked by libmongoc here, so a bad URL is bad input (exit 2).
#include <utility>  // before Asio (Boost 1.74 trap)

#include <mutex>

#include "action/registry.hpp"
#include "common/task_fields.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "mongo.hpp"
#include "mongo_impl.hpp"

namespace ld::proto::mongo {

void init_driver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    // libmongoc logs to stderr by default; its messages go to loaddensity's log at debug level
    // (failures reach the user through the records and ConfigErrors).
    mongoc_log_set_handler(
        [](mongoc_log_level_t, const char* domain, const char* message, void*) {
          log::debug("mongo", std::string(domain) + ": " + message);
        },
        nullptr);
  });
}

BsonTemplate::BsonTemplate(BsonTemplate&& o) noexcept
    : fixed(std::exchange(o.fixed, nullptr)), tpl(std::move(o.tpl)), has_id(o.has_id) {}

BsonTemplate& BsonTemplate::operator=(BsonTemplate&& o) noexcept {
  if (this != &o) {
    if (fixed) bson_destroy(fixed);
    fixed = std::exchange(o.fixed, nullptr);
    tpl = std::move(o.tpl);
    has_id = o.has_id;
  }
  return *this;
}

BsonTemplate::~BsonTemplate() {
  if (fixed) bson_destroy(fixed);
}

const bson_t* BsonTemplate::render(params::UserScope& scope, std::string& text, bson_t* out,
                                   bson_error_t* error) const {
  if (fixed) return fixed;
  text.clear();
  tpl.render(text, scope);
  bson_reinit(out);
  if (!bson_init_from_json(out, text.data(), static_cast<ssize_t>(text.size()), error)) {
    return nullptr;
  }
  return out;
}

namespace {

constexpr std::string_view kUser = "a mongo_user";
const std::vector<std::string> kMethods = {"find_one",   "find",      "insert_one", "insert_many",
                                           "update_one", "delete_one", "count"};

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("method", kString, nullptr,
            "find_one, find, insert_one, insert_many, update_one, delete_one or count"),
      field("url", kString, nullptr,
            "the server, mongodb://host:port/...; default LD_start_test 'connection', else " +
                std::string(kDefaultUrl)),
      field("connection", kString | kObject, nullptr,
            "the server as the original names it: a mongodb:// URL or {\"uri\": ..., "
            "\"timeout_ms\": 5000}"),
      field("database", kString, "test", "the database"),
      field("collection", kString, nullptr, "the collection (required)"),
      field("filter", kObject, Json::object(),
            "find_one, find, update_one, delete_one, count: the query as JSON"),
      field("document", kObject, nullptr, "insert_one: the document as JSON"),
      field("documents", kArray, nullptr, "insert_many: the documents as a JSON list"),
      field("update", kObject, nullptr, "update_one: the update ({\"$set\": {...}}, ...)"),
      field("upsert", kBool, false, "update_one: insert when nothing matches"),
      field("limit", kInteger, 0, "find: at most this many documents (0: all)"),
      field("expect_min", kInteger, nullptr,
            "find_one, find, count: at least this many documents (kind assertion)"),
      field("timeout", kNumber, kDefaultTimeoutS,
            "seconds: server selection and each socket operation"),
  };
  add_result_fields(f, "the method and collection",
                    "the result as JSON (find_one: the document or null; find: the list; "
                    "count: {\"count\": n}; the others: the server's reply)",
                    /*http=*/false);
  return f;
}

Method method_enum(const std::string& m) {
  if (m == "find_one") return Method::kFindOne;
  if (m == "find") return Method::kFind;
  if (m == "insert_one") return Method::kInsertOne;
  if (m == "insert_many") return Method::kInsertMany;
  if (m == "update_one") return Method::kUpdateOne;
  if (m == "delete_one") return Method::kDeleteOne;
  return Method::kCount;
}

// The URL text of a `connection` value (a string or {"uri"|"url": ...}); null when none.
const Json* connection_url(const Json& c) {
  if (c.is_string()) return &c;
  if (c.is_object()) {
    if (c.contains("uri")) return &c["uri"];
    if (c.contains("url")) return &c["url"];
  }
  return nullptr;
}

// Checks a `connection` value; `pointer` is where it is ("/connection").
void check_connection(const Json& c, const std::string& pointer) {
  if (!c.is_string() && !c.is_object()) {
    throw ConfigError("connection must be a mongodb:// URL or {\"uri\": \"mongodb://...\"}, got " +
                          json_brief(c, 60),
                      pointer);
  }
  if (!c.is_object()) return;
  for (auto it = c.begin(); it != c.end(); ++it) {
    const std::string& k = it.key();
    if (k != "uri" && k != "url" && k != "timeout_ms") {
      throw ConfigError("connection: unknown key '" + k +
                            "' (a mongo_user reads \"uri\" (or \"url\") and \"timeout_ms\")",
                        pointer + pointer_key(k));
    }
    if ((k == "uri" || k == "url") && !it.value().is_string()) {
      throw ConfigError("connection." + k + " must be a string, got " + json_brief(it.value(), 60),
                        pointer + pointer_key(k));
    }
    if (k == "timeout_ms" && (!it.value().is_number() || it.value().get<double>() <= 0)) {
      throw ConfigError("connection.timeout_ms must be a positive number, got " +
                            json_brief(it.value(), 60),
                        pointer + "/timeout_ms");
    }
  }
}

// Throws a ConfigError at `pointer` unless libmongoc accepts `url` (placeholders are checked
// once folded).
void check_url(const std::string& url, const std::string& pointer) {
  if (has_placeholder(url)) return;
  if (!url.starts_with("mongodb://") && !url.starts_with("mongodb+srv://")) {
    throw ConfigError("'" + url + "' is not a mongodb:// URL", pointer);
  }
  init_driver();
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (!uri) throw ConfigError("bad MongoDB URL '" + url + "': " + error.message, pointer);
  mongoc_uri_destroy(uri);
}

// Throws a ConfigError at `pointer` unless `v` (no placeholder) converts to BSON.
void check_bson(const Json& v, const std::string& pointer) {
  const std::string text = v.dump();
  if (has_placeholder(text)) return;  // checked once rendered
  bson_error_t error;
  bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(text.data()),
                                 static_cast<ssize_t>(text.size()), &error);
  if (!b) throw ConfigError(std::string("not a document libbson accepts: ") + error.message, pointer);
  bson_destroy(b);
}

BsonTemplate compile_bson(const Json& v, const params::ParseContext& pc, const std::string& pointer) {
  BsonTemplate t;
  params::Template tpl = params::json_template(v, pc);
  if (!tpl.is_static()) {
    t.tpl = std::move(tpl);
    return t;
  }
  const std::string& text = tpl.text();
  bson_error_t error;
  t.fixed = bson_new_from_json(reinterpret_cast<const uint8_t*>(text.data()),
                               static_cast<ssize_t>(text.size()), &error);
  if (!t.fixed) {
    throw ConfigError(std::string("not a document libbson accepts: ") + error.message, pointer);
  }
  t.has_id = bson_has_field(t.fixed, "_id");
  return t;
}

long long users_of(const Json& options) {
  long long users = 0;
  for (const char* k : {"user_count", "max_users"}) {
    if (options.contains(k) && options[k].is_number()) {
      users = std::max(users, options[k].get<long long>());
    }
  }
  return users > 0 ? users : 64;  // a load shape or open model: 64 unless it says
}

class MongoProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"mongo_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override {
    return {{"connection", action::kString | action::kObject | action::kNull, false, nullptr,
             "the default server: a mongodb:// URL or {\"uri\": ..., \"timeout_ms\": ...}"}};
  }

  void validate_options(const Json& args) const override {
    if (!args.contains("connection") || args["connection"].is_null()) return;
    const Json& c = args["connection"];
    check_connection(c, "/connection");
    if (const Json* u = connection_url(c)) {
      check_url(u->get<std::string>(), c.is_string() ? "/connection" : "/connection/uri");
    }
  }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    if (!task.contains("method")) {
      throw ConfigError("task needs 'method' (find_one, find, insert_one, insert_many, update_one, "
                        "delete_one or count)",
                        "");
    }
    const Method m = method_enum(method_of(task, kMethods, "", kUser));
    auto only = [&](const char* f, bool allowed, const char* which) {
      if (task.contains(f) && !allowed) field_error(f, std::string("only ") + which + " reads it");
    };
    const bool query = m == Method::kFindOne || m == Method::kFind || m == Method::kCount;
    only("filter", m != Method::kInsertOne && m != Method::kInsertMany,
         "find_one, find, update_one, delete_one and count");
    only("document", m == Method::kInsertOne, "insert_one");
    only("documents", m == Method::kInsertMany, "insert_many");
    only("update", m == Method::kUpdateOne, "update_one");
    only("upsert", m == Method::kUpdateOne, "update_one");
    only("limit", m == Method::kFind, "find");
    only("expect_min", query, "find_one, find and count");
    if (!task.contains("collection")) field_error("collection", "missing (every method names one)");
    expect_type(task, "collection", !task["collection"].get<std::string>().empty(),
                "a non-empty string");
    expect_type(task, "database",
                !task.contains("database") || !task["database"].get<std::string>().empty(),
                "a non-empty string");
    if (m == Method::kInsertOne && !task.contains("document")) {
      field_error("document", "missing (insert_one inserts it)");
    }
    if (m == Method::kUpdateOne && !task.contains("update")) {
      field_error("update", "missing (update_one applies it)");
    }
    if (m == Method::kInsertMany) {
      if (!task.contains("documents")) field_error("documents", "missing (insert_many inserts them)");
      const Json& d = task["documents"];
      if (d.empty()) field_error("documents", "must hold at least one document");
      for (std::size_t i = 0; i < d.size(); ++i) {
        if (!d[i].is_object()) {
          throw ConfigError("task field 'documents': entry " + std::to_string(i) +
                                " must be an object, got " + json_type_name(d[i]),
                            "/documents" + pointer_index(i));
        }
        check_bson(d[i], "/documents" + pointer_index(i));
      }
    }
    for (const char* f : {"filter", "document", "update"}) {
      if (task.contains(f)) check_bson(task[f], pointer_key(f));
    }
    if (task.contains("update")) {
      const Json& u = task["update"];
      if (u.empty()) field_error("update", "must not be empty");
      for (auto it = u.begin(); it != u.end(); ++it) {
        if (!it.key().starts_with("$")) {
          entry_error("update", it.key(),
                      "is not an update operator: update_one takes {\"$set\": ...}, {\"$inc\": "
                      "...}, {\"$unset\": ...} (as pymongo's update_one)");
        }
      }
    }
    if (task.contains("limit") && task["limit"].get<long long>() < 0) {
      field_error("limit", "must be 0 (no limit) or more");
    }
    if (task.contains("expect_min") && task["expect_min"].get<long long>() < 0) {
      field_error("expect_min", "must be 0 or more");
    }
    if (task.contains("url")) {
      if (task.contains("connection")) field_error("url", "give 'url' or 'connection', not both");
      check_url(task["url"].get<std::string>(), "/url");
    }
    if (task.contains("connection")) {
      check_connection(task["connection"], "/connection");
      if (const Json* u = connection_url(task["connection"])) {
        check_url(u->get<std::string>(),
                  task["connection"].is_string() ? "/connection" : "/connection/uri");
      }
    }
    check_timeout_field(task);
    checks::Checks::validate(task, /*http=*/false);
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    init_driver();
    auto out = std::make_unique<Tasks>();
    out->clients =
        static_cast<unsigned>(std::clamp<long long>(users_of(ctx.options), 1, kMaxClients));
    const params::ParseContext pc = ctx.parse_context();
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      Step s;
      const std::string m = method_of(task, kMethods, "", kUser);
      s.method = method_enum(m);
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      s.server = server_of(task, ctx, s.timeout, *out);
      s.database = params::Template::parse(
          task.contains("database") ? task["database"].get<std::string>() : "test", pc);
      s.collection = params::Template::parse(task["collection"].get<std::string>(), pc);
      s.filter = compile_bson(task.contains("filter") ? task["filter"] : Json::object(), pc,
                              "/filter");
      if (task.contains("document")) s.document = compile_bson(task["document"], pc, "/document");
      if (task.contains("update")) s.update = compile_bson(task["update"], pc, "/update");
      if (task.contains("documents")) {
        const Json& d = task["documents"];
        for (std::size_t k = 0; k < d.size(); ++k) {
          s.documents.push_back(compile_bson(d[k], pc, "/documents" + pointer_index(k)));
        }
      }
      if (task.contains("limit")) s.limit = task["limit"].get<long long>();
      if (task.contains("upsert")) s.upsert = task["upsert"].get<bool>();
      if (task.contains("expect_min")) {
        s.expect_min = task["expect_min"].get<long long>();
        s.expect_message =
            "expect_min failed: at least " + std::to_string(s.expect_min) + " documents";
      }
      if (task.contains("assertions") || task.contains("extract")) {
        s.checks = checks::Checks::compile(task, pc, /*http=*/false);
        if (s.checks->empty()) s.checks.reset();
      }
      std::string label = m + " " + s.collection.text();
      if (task.contains("name")) {
        label = params::resolve_static(task["name"].get<std::string>(), ctx.resolver);
      }
      s.name_id = ctx.names.intern("MONGO", label);
      ctx.names.set_url(s.name_id, public_url(out->servers[s.server]->url));
      out->steps.push_back(std::move(s));
    });
    return out;
  }

 private:
  std::vector<action::Param> fields_ = declared_fields();

  // The URL without credentials (for reports).
  static std::string public_url(const std::string& url) {
    const std::size_t scheme = url.find("://");
    const std::size_t at = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
    const std::size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (scheme == std::string::npos || at == std::string::npos || (slash != std::string::npos && slash < at)) {
      return url;
    }
    return url.substr(0, scheme + 3) + url.substr(at + 1);
  }

  // The Server of a task (its URL fixed for the run), shared by tasks naming the same URL.
  static std::size_t server_of(const Json& task, engine::CompileContext& ctx, Nanos timeout,
                               Tasks& tasks) {
    std::string raw(kDefaultUrl);
    std::string pointer = "/url";
    long long selection_ms = static_cast<long long>(timeout / kNanosPerMilli);
    const Json* conn = nullptr;
    if (task.contains("url")) {
      raw = task["url"].get<std::string>();
    } else if (task.contains("connection")) {
      conn = &task["connection"];
      pointer = conn->is_string() ? "/connection" : "/connection/uri";
    } else if (ctx.options.contains("connection") && !ctx.options["connection"].is_null()) {
      conn = &ctx.options["connection"];
      pointer = "LD_start_test connection";
    }
    if (conn) {
      if (const Json* u = connection_url(*conn)) raw = u->get<std::string>();
      if (conn->is_object() && conn->contains("timeout_ms")) {
        selection_ms = static_cast<long long>((*conn)["timeout_ms"].get<double>());
      }
    }
    std::string url = params::resolve_static(raw, ctx.resolver);
    const std::string where = pointer.starts_with("/") ? pointer : "";
    if (has_placeholder(url)) {
      throw ConfigError("the server URL '" + raw +
                            "' holds a placeholder that is not fixed for the run (the server is "
                            "chosen once; use registered variables and env)",
                        where);
    }
    check_url(url, where);
    const long long socket_ms = std::max<long long>(1, timeout / kNanosPerMilli);
    selection_ms = std::max<long long>(1, selection_ms);
    for (std::size_t i = 0; i < tasks.servers.size(); ++i) {
      Server& have = *tasks.servers[i];
      if (have.url == url) {
        have.socket_timeout_ms = std::max(have.socket_timeout_ms, socket_ms);
        have.selection_timeout_ms = std::max(have.selection_timeout_ms, selection_ms);
        return i;
      }
    }
    auto s = std::make_unique<Server>();
    s->url = std::move(url);
    s->socket_timeout_ms = socket_ms;
    s->selection_timeout_ms = selection_ms;
    tasks.servers.push_back(std::move(s));
    return tasks.servers.size() - 1;
  }
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<MongoProtocol>(); }

}  // namespace ld::proto::mongo
