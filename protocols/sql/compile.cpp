// sql_user task checking and compilation: the connection string picks the backend once, each
// task's SQL is fixed for the run (registered variables and env folded; per-request values go
// in `params`, sent as bound parameters), and named `:name` parameters become positional ones
// (MariaDB: every parameter becomes a `?` marker).
#include <utility>  // before Asio (Boost 1.74 trap)

#include <algorithm>
#include <climits>
#include <optional>

#include "action/registry.hpp"
#include "common/task_fields.hpp"
#include "common/url.hpp"
#include "core/resp.hpp"
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
            "bound parameters: a list for $1, $2 (PostgreSQL) or ?1, ? (SQLite, MariaDB), or an "
            "object for :name; values are rendered per request and never spliced into the SQL"),
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

// mysql://[user[:password]@]host[:port][/database][?charset=...&unix_socket=...] into `out`.
// Throws ConfigError.
void parse_mysql(const std::string& url, MariaTarget& out, const char* pointer) {
  auto fail = [&](const std::string& why) {
    throw ConfigError(
        "connection_string '" + url + "' " + why + " (mysql://user:password@host:port/database)",
        pointer);
  };
  std::string_view rest = std::string_view(url).substr(url.find("://") + 3);
  std::string_view query;
  if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.size() < rest.size() &&
      !percent_decode(rest.substr(authority.size() + 1), out.database)) {
    fail("has a bad %-escape in its database");
  }
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = authority.substr(0, at);
    const std::size_t colon = info.find(':');
    if (!percent_decode(info.substr(0, colon), out.user) ||
        (colon != std::string_view::npos &&
         !percent_decode(info.substr(colon + 1), out.password))) {
      fail("has a bad %-escape in its user or password");
    }
    authority = authority.substr(at + 1);
  }
  if (!authority.empty()) {
    static constexpr Scheme kMysql[] = {{"mysql", 3306, false}};
    Url u;
    std::string error;
    if (!parse_url("mysql://" + std::string(authority), kMysql, u, error)) fail(error);
    out.host = u.host;
    out.port = u.port;
  }
  using Tls = MariaTarget::Tls;
  std::optional<Tls> mode;          // ?sslmode= / ?ssl_mode= / ?ssl=
  std::optional<bool> verify_cert;  // ?ssl_verify_cert=
  while (!query.empty()) {
    const std::string_view pair = query.substr(0, query.find('&'));
    query = pair.size() < query.size() ? query.substr(pair.size() + 1) : std::string_view{};
    const std::size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    std::string value;
    if (eq == std::string_view::npos || !percent_decode(pair.substr(eq + 1), value) ||
        value.empty()) {
      fail("has an option '" + std::string(pair) + "' without a value");
    }
    auto flag = [&] {
      const std::string v = text::lower(value);
      if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
      if (v == "false" || v == "0" || v == "no" || v == "off") return false;
      fail("has " + std::string(key) + "='" + value + "' (true or false)");
      return false;
    };
    auto set_mode = [&](Tls m) {
      if (mode && *mode != m) fail("asks for TLS twice, differently (" + std::string(key) + ")");
      mode = m;
    };
    if (key == "charset") {
      out.charset = value;
    } else if (key == "unix_socket") {
      out.unix_socket = value;
    } else if (key == "ssl" || key == "tls") {
      set_mode(flag() ? Tls::kRequire : Tls::kOff);
    } else if (key == "sslmode" || key == "ssl_mode") {
      // libpq's names and MySQL's (--ssl-mode), either case.
      std::string v = text::lower(value);
      std::replace(v.begin(), v.end(), '_', '-');
      if (v == "disable" || v == "disabled") {
        set_mode(Tls::kOff);
      } else if (v == "prefer" || v == "preferred" || v == "allow") {
        // libmariadb 3.3 has no option for TLS only when offered without a CA.
        fail("has " + std::string(key) + "='" + value +
             "': a MariaDB/MySQL connection either requires TLS (require, verify-ca, "
             "verify-full) or does without it (disable)");
      } else if (v == "require" || v == "required") {
        set_mode(Tls::kRequire);
      } else if (v == "verify-ca") {
        set_mode(Tls::kVerifyCa);
      } else if (v == "verify-full" || v == "verify-identity") {
        set_mode(Tls::kVerifyFull);
      } else {
        fail("has " + std::string(key) + "='" + value +
             "' (disable, require, verify-ca or verify-full; or MySQL's DISABLED, REQUIRED, "
             "VERIFY_CA, VERIFY_IDENTITY)");
      }
    } else if (key == "ssl_verify_cert") {
      verify_cert = flag();
    } else if (key == "ssl_ca") {
      out.ssl_ca = value;
    } else if (key == "ssl_capath") {
      out.ssl_capath = value;
    } else if (key == "ssl_cert") {
      out.ssl_cert = value;
    } else if (key == "ssl_key") {
      out.ssl_key = value;
    } else if (key == "ssl_cipher") {
      out.ssl_cipher = value;
    } else {
      fail("has an option '" + std::string(key) +
           "' this version does not understand (charset, unix_socket, ssl, sslmode, ssl_mode, "
           "ssl_ca, ssl_capath, ssl_cert, ssl_key, ssl_cipher and ssl_verify_cert are)");
    }
  }
  // Without a mode: a CA (or a client certificate) asks for TLS, as in SQLAlchemy's MySQL
  // drivers; ssl_verify_cert=true asks for the host name check as well.
  const bool files = !out.ssl_ca.empty() || !out.ssl_capath.empty() || !out.ssl_cert.empty() ||
                     !out.ssl_key.empty() || !out.ssl_cipher.empty();
  const bool ca = !out.ssl_ca.empty() || !out.ssl_capath.empty();
  Tls tls = mode.value_or(ca ? Tls::kVerifyCa : files ? Tls::kRequire : Tls::kOff);
  if (verify_cert == true) {
    if (tls == Tls::kOff && mode) fail("has ssl_verify_cert=true with TLS turned off");
    tls = Tls::kVerifyFull;
  }
  if (tls == Tls::kOff && (files || verify_cert)) {
    fail("has TLS options with TLS turned off");
  }
  if ((tls == Tls::kVerifyCa || tls == Tls::kVerifyFull) && !ca) {
    fail("verifies the server's certificate but names no CA (ssl_ca=/path/ca.pem or ssl_capath)");
  }
  if (!out.ssl_cert.empty() != !out.ssl_key.empty()) {
    fail("needs both ssl_cert and ssl_key for a client certificate");
  }
  out.tls = tls;
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
    // A SQLAlchemy driver ("mysql+pymysql://", "mariadb+mariadbconnector://") is dropped.
    out.backend = Backend::kMariadb;
    parse_mysql(url, out.maria, pointer);
    return;
  }
  throw ConfigError("connection_string '" + url +
                        "' is not a supported database URL (use postgresql://user@host:port/db, "
                        "mysql://user@host:port/db, mariadb://... or sqlite:///file.db)",
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

// Every :name in `used` has a value in `params`, and every value is in `known`.
void check_named(const std::vector<std::string>& used, const std::vector<std::string>& known,
                 const Json& params) {
  for (const auto& n : used) {
    if (!params.contains(n)) {
      field_error("params", "the SQL uses :" + n + " but params has no '" + n + "'");
    }
  }
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
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
             "postgresql://user:password@host:port/db, mysql:// or mariadb://"
             "user:password@host:port/db, or sqlite:///file.db (default sqlite:///:memory:, one "
             "database per user)"}};
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
      // The backend is not known here and MariaDB lexes comments and quotes its own way: a
      // name is missing when both lexings use it, unused when neither does (compile checks
      // again for the backend).
      const std::string sql = task["sql"].get<std::string>();
      std::vector<std::string> pg, my, both;
      std::vector<std::uint32_t> order;
      rewrite_named(sql, '$', pg);
      to_markers(sql, true, my, order);
      for (const auto& n : pg) {
        if (std::find(my.begin(), my.end(), n) != my.end()) both.push_back(n);
      }
      for (const auto& n : my) {
        if (std::find(pg.begin(), pg.end(), n) == pg.end()) pg.push_back(n);
      }
      check_named(both, pg, task["params"]);
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
        if (v.is_boolean()) {
          out_p.number = BoundParam::Number::kInteger;
          out_p.integer = v.get<bool>() ? 1 : 0;
        } else if (v.is_number_integer() &&
                   (v.is_number_unsigned() ? v.get<std::uint64_t>() <= LLONG_MAX : true)) {
          out_p.number = BoundParam::Number::kInteger;
          out_p.integer = v.get<long long>();
        } else if (v.is_number()) {
          out_p.number = BoundParam::Number::kReal;
          out_p.real = v.get<double>();
        }
        return out_p;
      };
      if (out->backend == Backend::kMariadb) {
        std::vector<std::string> names;
        sql = to_markers(sql, p.is_object(), names, s.markers);
        if (p.is_object()) {
          check_named(names, names, p);
          for (const auto& n : names) s.params.push_back(param_of(p[n]));
        } else {
          for (const auto& v : p) s.params.push_back(param_of(v));
          for (const std::uint32_t m : s.markers) {
            if (m >= s.params.size()) {
              field_error("params", "the SQL uses parameter " + std::to_string(m + 1) +
                                        " but params has " + std::to_string(s.params.size()) +
                                        (s.params.size() == 1 ? " value" : " values"));
            }
          }
        }
      } else if (p.is_object()) {
        std::vector<std::string> names;
        sql = rewrite_named(sql, prefix, names);
        check_named(names, names, p);
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

namespace {

// How rewrite() lexes and what it makes of a parameter.
struct Dialect {
  char prefix = '$';   // the positional marker written for :name ('$' or '?'; then a number)
  bool mysql = false;  // MariaDB: backslash escapes, # comments, every parameter becomes `?`
  bool named = true;   // rewrite :name (else, MariaDB: $N, ?N and bare ?)
};

// One pass over `sql`, copying quoted text and comments as they are.
std::string rewrite(std::string_view sql, const Dialect& d, std::vector<std::string>& names,
                    std::vector<std::uint32_t>* order) {
  std::string out;
  out.reserve(sql.size() + 8);
  std::size_t i = 0;
  std::uint32_t bare = 0;
  auto copy_until = [&](std::string_view end) {  // copies through the next `end` (or the rest)
    const std::size_t e = sql.find(end, i);
    const std::size_t stop = e == std::string_view::npos ? sql.size() : e + end.size();
    out.append(sql.substr(i, stop - i));
    i = stop;
  };
  auto marker = [&](std::uint32_t index) {  // parameter `index` (0-based)
    if (order) {
      out += '?';
      order->push_back(index);
    } else {
      out += d.prefix;
      out += std::to_string(index + 1);
    }
  };
  auto number_at = [&](std::size_t at, std::size_t& end) {  // digits at `at`, 0 when none
    std::uint32_t n = 0;
    end = at;
    while (end < sql.size() && std::isdigit(static_cast<unsigned char>(sql[end])) && n < 100000) {
      n = n * 10 + static_cast<std::uint32_t>(sql[end++] - '0');
    }
    return n;
  };
  while (i < sql.size()) {
    const char c = sql[i];
    const bool after_name = i > 0 && (name_char(sql[i - 1]) || sql[i - 1] == '$');
    std::size_t e = 0;
    if (c == '\'' || c == '"' || c == '`') {  // quoted text ('' and "" escapes close and reopen)
      out += c;
      ++i;
      while (i < sql.size()) {
        const char q = sql[i++];
        out += q;
        if (d.mysql && q == '\\' && c != '`' && i < sql.size()) {
          out += sql[i++];
        } else if (q == c) {
          break;
        }
      }
    } else if ((c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') || (d.mysql && c == '#')) {
      copy_until("\n");
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      out += "/*";
      i += 2;
      copy_until("*/");
    } else if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {  // a PostgreSQL cast
      out += "::";
      i += 2;
    } else if (d.named && c == ':' && i + 1 < sql.size() && name_start(sql[i + 1]) && !after_name) {
      e = i + 1;
      while (e < sql.size() && name_char(sql[e])) ++e;
      const std::string name(sql.substr(i + 1, e - i - 1));
      auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) {
        names.push_back(name);
        it = names.end() - 1;
      }
      marker(static_cast<std::uint32_t>(it - names.begin()));
      i = e;
    } else if (d.mysql && !d.named && (c == '$' || c == '?') && !after_name &&
               number_at(i + 1, e) > 0) {
      marker(number_at(i + 1, e) - 1);
      i = e;
    } else if (d.mysql && !d.named && c == '?') {
      marker(bare++);
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string rewrite_named(std::string_view sql, char prefix, std::vector<std::string>& names) {
  return rewrite(sql, Dialect{prefix, false, true}, names, nullptr);
}

std::string to_markers(std::string_view sql, bool named, std::vector<std::string>& names,
                       std::vector<std::uint32_t>& order) {
  order.clear();
  return rewrite(sql, Dialect{'?', true, named}, names, &order);
}

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  switch (backend) {
    case Backend::kPostgres:
      return new_pg_user(*this, worker);
    case Backend::kMariadb:
      return new_mariadb_user(*this, worker);
    case Backend::kSqlite:
      break;
  }
  return new_sqlite_user(*this, worker);
}

void RowsJson::key(std::string_view name) {
  if (columns_++ > 0) all += ',';
  resp::append_json_string(all, name);
  all += ':';
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
