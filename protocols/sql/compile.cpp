// sql_user task checking and compilation: the connection string picks the backend once, each
// task's SQL is fixed for the run (registered variables and env folded; per-request values go
// in `params`, sent as bound parameters), and named `:name` parameters become positional ones.
#include <utility>  // before Asio (Boost 1.74 trap)

#include "action/registry.hpp"
#include "common/task_fields.hpp"
#include "core/text.hpp"
#include "sql.hpp"
#include "sql_impl.hpp"

namespace ld::proto::sql {

namespace {

constexpr std::string_view kUser = "a sql_user";
constexpr std::string_view kDefaultConnection = "sqlite:///:memory:";

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("sql", kString, nullptr,
            "one SQL statement, prepared once per connection; per-request values go in 'params'"),
      field("params", kArray | kObject | kNull, nullptr,
            "bound parameters: a list for $1, $2 (PostgreSQL) or ?1, ? (SQLite), or an object "
            "for :name; values are rendered per request and never spliced into the SQL"),
      field("expect_rows", kInteger, nullptr,
            "rows returned (a query) or affected (any other statement) must equal it"),
      field("timeout", kNumber, kDefaultTimeoutS,
            "seconds for the statement, including connecting"),
  };
  add_result_fields(f, "sql",
                    "the result rows (assertions: [{\"col\": value}, ...]; extract: the first row)",
                    /*http=*/false);
  return f;
}

// The scheme of a connection string, lower-cased, without a SQLAlchemy "+driver".
std::string scheme_of(std::string_view url) {
  const std::size_t colon = url.find("://");
  if (colon == std::string_view::npos) return {};
  std::string s = text::lower(url.substr(0, colon));
  if (const std::size_t plus = s.find('+'); plus != std::string::npos) s.resize(plus);
  return s;
}

// Parses a connection string into the backend and what it opens. Throws ConfigError.
void parse_connection(const std::string& url, Tasks& out, const char* pointer) {
  const std::string scheme = scheme_of(url);
  if (scheme == "postgresql" || scheme == "postgres") {
    out.backend = Backend::kPostgres;
    // libpq takes postgresql:// URIs; drop a SQLAlchemy driver ("postgresql+psycopg2://").
    out.conninfo = "postgresql" + url.substr(url.find("://"));
    return;
  }
  if (scheme == "sqlite") {
    out.backend = Backend::kSqlite;
    const std::string rest = url.substr(url.find("://") + 3);
    if (rest.empty() || rest == "/" || rest == "/:memory:") {
      out.path = ":memory:";
    } else if (rest.front() != '/') {
      throw ConfigError("connection_string '" + url +
                            "': a SQLite URL is sqlite:///relative.db or sqlite:////absolute.db",
                        pointer);
    } else {
      out.path = rest.substr(1);
    }
    return;
  }
  if (scheme == "mysql" || scheme == "mariadb") {
    throw ConfigError("connection_string '" + url + "': " + scheme +
                          ":// is not built yet in this version; sql_user supports "
                          "postgresql:// and sqlite:/// (docs/protocols/sql.md)",
                      pointer);
  }
  throw ConfigError("connection_string '" + url +
                        "' is not a supported database URL (use postgresql://user@host:port/db "
                        "or sqlite:///file.db)",
                    pointer);
}

// LD_start_test `connection_string`, else a SQL `host`, else SQLite in memory.
std::string connection_of(const Json& options, const std::string& host, const char*& pointer) {
  if (options.contains("connection_string") && options["connection_string"].is_string()) {
    pointer = "/connection_string";
    return options["connection_string"].get<std::string>();
  }
  const std::string scheme = scheme_of(host);
  if (scheme == "postgresql" || scheme == "postgres" || scheme == "sqlite" || scheme == "mysql" ||
      scheme == "mariadb") {
    pointer = "/host";
    return host;
  }
  pointer = "";
  return std::string(kDefaultConnection);
}

// Every :name the SQL uses has a value in `params`, and every value is used.
void check_named(const std::vector<std::string>& names, const Json& params) {
  for (const auto& n : names) {
    if (!params.contains(n)) {
      field_error("params", "the SQL uses :" + n + " but params has no '" + n + "'");
    }
  }
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (std::find(names.begin(), names.end(), it.key()) == names.end()) {
      entry_error("params", it.key(), "is not used by the SQL (no :" + it.key() + " in it)");
    }
  }
}

class SqlProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"sql_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override {
    return {{"connection_string", action::kString | action::kNull, false, nullptr,
             "postgresql://user:password@host:port/db or sqlite:///file.db (default "
             "sqlite:///:memory:, one database per user)"}};
  }

  void validate_options(const Json& args) const override {
    if (args.contains("connection_string") && !args["connection_string"].is_null()) {
      const Json& c = args["connection_string"];
      if (!c.is_string()) {
        throw ConfigError(
            "connection_string must be a database URL string, got " + json_brief(c, 60),
            "/connection_string");
      }
      const std::string text = c.get<std::string>();
      if (!has_placeholder(text)) {
        Tasks scratch;
        parse_connection(text, scratch, "/connection_string");
      }
    }
  }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    if (!task.contains("sql")) {
      throw ConfigError("task needs 'sql' (the statement to run)", "/sql");
    }
    expect_type(task, "sql", !task["sql"].get<std::string>().empty(), "a non-empty SQL string");
    if (task.contains("params") && task["params"].is_object()) {
      std::vector<std::string> names;
      rewrite_named(task["sql"].get<std::string>(), '$', names);
      check_named(names, task["params"]);
    }
    if (task.contains("expect_rows")) {
      expect_type(task, "expect_rows", task["expect_rows"].get<long long>() >= 0,
                  "a row count of 0 or more");
    }
    check_timeout_field(task);
    checks::Checks::validate(task, /*http=*/false);
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    auto out = std::make_unique<Tasks>();
    const char* pointer = "";
    const std::string raw = connection_of(ctx.options, ctx.host, pointer);
    const std::string url = params::resolve_static(raw, ctx.resolver);
    if (has_placeholder(url)) {
      throw ConfigError("connection_string '" + raw +
                            "' holds a placeholder that is not fixed for the run (registered "
                            "variables and env only)",
                        pointer);
    }
    parse_connection(url, *out, pointer);
    const char prefix = out->backend == Backend::kPostgres ? '$' : '?';
    const params::ParseContext pc = ctx.parse_context();
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      Step s;
      const std::string sql_raw = task["sql"].get<std::string>();
      std::string sql = params::resolve_static(sql_raw, ctx.resolver);
      if (has_placeholder(sql)) {
        field_error("sql",
                    "holds a placeholder that changes per request; the statement is prepared "
                    "once per connection, so put per-request values in 'params' (bound, never "
                    "spliced into the SQL)");
      }
      const Json no_params = Json::array();
      const Json& p =
          task.contains("params") && !task["params"].is_null() ? task["params"] : no_params;
      auto param_of = [&](const Json& v) {
        BoundParam out_p;
        out_p.null = v.is_null();
        out_p.value = params::Template::parse(out_p.null ? "" : payload_text(v), pc);
        return out_p;
      };
      if (p.is_object()) {
        std::vector<std::string> names;
        sql = rewrite_named(sql, prefix, names);
        check_named(names, p);
        for (const auto& n : names) s.params.push_back(param_of(p[n]));
      } else {
        for (const auto& v : p) s.params.push_back(param_of(v));
      }
      s.sql = std::move(sql);
      s.statement = "ld_" + std::to_string(i);
      const std::string label =
          task.contains("name")
              ? params::resolve_static(task["name"].get<std::string>(), ctx.resolver)
              : std::string("sql");
      s.name_id = ctx.names.intern("SQL", label);
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      if (task.contains("expect_rows")) {
        s.expect_rows = task["expect_rows"].get<long long>();
        s.expect_message = "expect_rows failed: expected " + std::to_string(s.expect_rows) +
                           (s.expect_rows == 1 ? " row" : " rows");
      }
      if (task.contains("assertions")) {
        Json a = task;
        a.erase("extract");
        s.assertions = checks::Checks::compile(a, pc, /*http=*/false);
        if (s.assertions->empty()) s.assertions.reset();
      }
      if (task.contains("extract")) {
        Json e = task;
        e.erase("assertions");
        s.extract = checks::Checks::compile(e, pc, /*http=*/false);
        if (s.extract->empty()) s.extract.reset();
      }
      out->steps.push_back(std::move(s));
    });
    return out;
  }

 private:
  std::vector<action::Param> fields_ = declared_fields();
};

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

std::string rewrite_named(std::string_view sql, char prefix, std::vector<std::string>& names) {
  std::string out;
  out.reserve(sql.size() + 8);
  std::size_t i = 0;
  auto copy_until = [&](std::string_view end) {  // copies through the next `end` (or the rest)
    const std::size_t e = sql.find(end, i);
    const std::size_t stop = e == std::string_view::npos ? sql.size() : e + end.size();
    out.append(sql.substr(i, stop - i));
    i = stop;
  };
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {  // quoted text ('' and "" escapes close and reopen)
      out += c;
      ++i;
      copy_until(std::string_view(&c, 1));
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      copy_until("\n");
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      out += "/*";
      i += 2;
      copy_until("*/");
    } else if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {  // a PostgreSQL cast
      out += "::";
      i += 2;
    } else if (c == ':' && i + 1 < sql.size() && name_start(sql[i + 1]) &&
               (i == 0 || !name_char(sql[i - 1]))) {
      std::size_t e = i + 1;
      while (e < sql.size() && name_char(sql[e])) ++e;
      const std::string name(sql.substr(i + 1, e - i - 1));
      auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) {
        names.push_back(name);
        it = names.end() - 1;
      }
      out += prefix;
      out += std::to_string(it - names.begin() + 1);
      i = e;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

Nanos Tasks::max_timeout() const noexcept {
  Nanos m = 0;
  for (const auto& s : steps) m = std::max(m, s.timeout);
  return m;
}

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return backend == Backend::kPostgres ? new_pg_user(*this, worker)
                                       : new_sqlite_user(*this, worker);
}

std::shared_ptr<void> Tasks::new_worker_state(engine::WorkerContext& worker) {
  return backend == Backend::kPostgres ? new_pg_worker_state(worker) : nullptr;
}

void Tasks::start_run(unsigned) {
  if (backend == Backend::kSqlite) pool = std::make_unique<engine::OffloadPool>(kSqlitePoolThreads);
}

void Tasks::end_run() noexcept {
  if (pool) pool->stop();
}

stats::ErrorInfo check_rows(const Step& step, long long rows, const RowsJson& json,
                            params::UserScope& scope) noexcept {
  using stats::ErrorKind;
  if (step.expect_rows >= 0 && rows != step.expect_rows) {
    return {ErrorKind::kAssertion, step.expect_message.c_str(), 0, false};
  }
  if (step.assertions) {
    if (const char* msg = step.assertions->apply(checks::ResponseView{0, json.all, {}}, scope)) {
      return {ErrorKind::kAssertion, msg, 0, false};
    }
  }
  if (step.extract) {
    if (const char* msg = step.extract->apply(checks::ResponseView{0, json.first, {}}, scope)) {
      return {ErrorKind::kAssertion, msg, 0, false};
    }
  }
  return {};
}

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<SqlProtocol>(); }

}  // namespace ld::proto::sql
