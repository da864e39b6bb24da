#include "sqlite/run_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <ostream>

#include "common/format.hpp"
#include "common/records.hpp"
#include "summary/summary.hpp"

namespace ld::reports {

namespace {

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS load_density_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, label TEXT, metadata_json TEXT);
CREATE TABLE IF NOT EXISTS load_density_records (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, outcome TEXT NOT NULL, method TEXT, test_url TEXT, name TEXT, status_code TEXT, response_time_ms REAL, response_length INTEGER, error TEXT, FOREIGN KEY (run_id) REFERENCES load_density_runs(id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS idx_records_run_id ON load_density_records(run_id);
CREATE INDEX IF NOT EXISTS idx_records_name ON load_density_records(name);
CREATE TABLE IF NOT EXISTS load_density_run_stats (run_id INTEGER PRIMARY KEY, complete INTEGER NOT NULL DEFAULT 0, requests INTEGER, failures INTEGER, duration_s REAL, records INTEGER, summary_json TEXT, FOREIGN KEY (run_id) REFERENCES load_density_runs(id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS load_density_name_stats (run_id INTEGER NOT NULL, request_type TEXT NOT NULL, name TEXT NOT NULL, requests INTEGER NOT NULL, failures INTEGER NOT NULL, bytes_in INTEGER, bytes_out INTEGER, mean_ms REAL, p50_ms REAL, p90_ms REAL, p95_ms REAL, p99_ms REAL, max_ms REAL, ok_histogram BLOB, fail_histogram BLOB, PRIMARY KEY (run_id, request_type, name), FOREIGN KEY (run_id) REFERENCES load_density_runs(id) ON DELETE CASCADE);
)SQL";

class Db {
 public:
  explicit Db(const std::string& path) : path_(path) {
    const int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw RunStoreError("cannot open SQLite database '" + path + "': " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
    // The first statement reads the header: a file that is not SQLite fails here.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
    exec(kSchema);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      fail(rc, msg);
    }
  }
  [[noreturn]] void fail(int rc, const std::string& msg) const {
    if ((rc & 0xff) == SQLITE_NOTADB) {
      throw RunStoreError("'" + path_ + "' is not a SQLite database (" + msg + ")");
    }
    throw RunStoreError("SQLite database '" + path_ + "': " + msg);
  }
  sqlite3* get() const noexcept { return db_; }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(Db& db, const char* sql) : db_(db) {
    const int rc = sqlite3_prepare_v2(db.get(), sql, -1, &s_, nullptr);
    if (rc != SQLITE_OK) db.fail(rc, sqlite3_errmsg(db.get()));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  Stmt& bind(int i, double v) {
    check(sqlite3_bind_double(s_, i, v));
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind_blob(int i, const std::string& v) {
    check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind_null(int i) {
    check(sqlite3_bind_null(s_, i));
    return *this;
  }
  // true while a row is available.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    db_.fail(rc, sqlite3_errmsg(db_.get()));
  }
  void run() {
    while (step()) {
    }
    reset();
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double dbl(int c) const { return sqlite3_column_double(s_, c); }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  std::string blob(int c) const {
    const void* p = sqlite3_column_blob(s_, c);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  // A column as JSON: null, integer, real or text.
  Json value(int c) const {
    switch (sqlite3_column_type(s_, c)) {
      case SQLITE_NULL:
        return nullptr;
      case SQLITE_INTEGER:
        return i64(c);
      case SQLITE_FLOAT:
        return dbl(c);
      default:
        return text(c);
    }
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) db_.fail(rc, sqlite3_errmsg(db_.get()));
  }
  Db& db_;
  sqlite3_stmt* s_ = nullptr;
};

std::string utc_iso_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return buf;
}

// json.dumps(value, ensure_ascii=False) with Python's ", " and ": " separators.
std::string python_dumps(const Json& v) {
  if (v.is_object()) {
    std::string s = "{";
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) s += ", ";
      first = false;
      s += json_quote(it.key()) + ": " + python_dumps(it.value());
    }
    return s + "}";
  }
  if (v.is_array()) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + python_dumps(v[i]);
    return s + "]";
  }
  if (v.is_string()) return json_quote(v.get<std::string>());
  if (v.is_number_float()) return py_float(v.get<double>());
  return v.dump();
}

double ms3(std::int64_t ns) { return ns_to_ms3(ns); }

class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) {
      char* err = nullptr;
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, &err);
      sqlite3_free(err);
    }
  }
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }

 private:
  Db& db_;
  bool done_ = false;
};

bool run_exists(Db& db, std::int64_t id) {
  Stmt s(db, "SELECT 1 FROM load_density_runs WHERE id = ?");
  s.bind(1, id);
  return s.step();
}

// Per-name figures of one run for the diff.
struct NameFigures {
  double count = 0, failures = 0, failure_rate = 0, mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0;
};

// The original's percentile: linear interpolation at rank (p/100)(n-1) over sorted values.
double interpolated(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  if (sorted.size() == 1) return sorted[0];
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

std::map<std::string, NameFigures> run_figures(Db& db, std::int64_t run_id) {
  std::map<std::string, NameFigures> out;
  std::map<std::string, stats::Histogram> hists;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> counts;
  {
    Stmt s(db,
           "SELECT name, requests, failures, ok_histogram, fail_histogram FROM "
           "load_density_name_stats WHERE run_id = ?");
    s.bind(1, run_id);
    while (s.step()) {
      const std::string name = s.text(0);
      auto& h = hists[name];
      try {
        if (!s.is_null(3)) h.merge(stats::Histogram::decode(s.blob(3)));
        if (!s.is_null(4)) h.merge(stats::Histogram::decode(s.blob(4)));
      } catch (const std::invalid_argument& e) {
        throw RunStoreError("SQLite database '" + db.path() + "': run " + std::to_string(run_id) +
                            " has a damaged histogram for '" + name + "': " + e.what());
      }
      counts[name].first += static_cast<std::uint64_t>(s.i64(1));
      counts[name].second += static_cast<std::uint64_t>(s.i64(2));
    }
  }
  if (!hists.empty()) {
    for (const auto& [name, h] : hists) {
      NameFigures f;
      f.count = static_cast<double>(counts[name].first);
      f.failures = static_cast<double>(counts[name].second);
      f.failure_rate = f.count > 0 ? f.failures / f.count : 0;
      f.mean_ms = h.mean() / 1e6;
      f.p50_ms = ms3(h.percentile(50));
      f.p95_ms = ms3(h.percentile(95));
      f.p99_ms = ms3(h.percentile(99));
      out[name] = f;
    }
    return out;
  }
  // A run stored without aggregates (by the original): summarise its records.
  std::map<std::string, std::vector<double>> lat;
  Stmt s(db,
         "SELECT name, test_url, outcome, response_time_ms FROM load_density_records WHERE "
         "run_id = ?");
  s.bind(1, run_id);
  while (s.step()) {
    std::string name = s.text(0);
    if (name.empty()) name = s.text(1);
    if (name.empty()) name = "unknown";
    auto& f = out[name];
    f.count += 1;
    std::string outcome = s.text(2);
    std::transform(outcome.begin(), outcome.end(), outcome.begin(), ::tolower);
    if (outcome == "failure") f.failures += 1;
    auto& v = lat[name];
    if (!s.is_null(3)) v.push_back(s.dbl(3));
  }
  for (auto& [name, f] : out) {
    auto& v = lat[name];
    std::sort(v.begin(), v.end());
    f.failure_rate = f.failures / std::max(f.count, 1.0);
    double sum = 0;
    for (double x : v) sum += x;
    f.mean_ms = v.empty() ? 0 : sum / static_cast<double>(v.size());
    f.p50_ms = interpolated(v, 50);
    f.p95_ms = interpolated(v, 95);
    f.p99_ms = interpolated(v, 99);
  }
  return out;
}

}  // namespace

std::int64_t persist_run(const std::string& database_path, const stats::Metrics& m,
                         const stats::RecordLog* log, const PersistOptions& options) {
  Db db(database_path);
  std::int64_t run_id = 0;
  {
    // 1. The run row and its aggregates, in one transaction.
    Transaction tx(db);
    Stmt run(db,
             "INSERT INTO load_density_runs (started_at, label, metadata_json) VALUES (?, ?, ?)");
    run.bind(1, utc_iso_now());
    if (options.label) {
      run.bind(2, *options.label);
    } else {
      run.bind_null(2);
    }
    run.bind(3, python_dumps(options.metadata.is_null() ? Json::object() : options.metadata));
    run.run();
    run_id = sqlite3_last_insert_rowid(db.get());
    Stmt st(db,
            "INSERT INTO load_density_run_stats (run_id, complete, requests, failures, "
            "duration_s, records, summary_json) VALUES (?, 0, ?, ?, ?, 0, ?)");
    st.bind(1, run_id)
        .bind(2, static_cast<std::int64_t>(m.requests()))
        .bind(3, static_cast<std::int64_t>(m.failures()))
        .bind(4, m.duration_s())
        .bind(5, build_summary(m).dump());
    st.run();
    Stmt ns(db,
            "INSERT OR REPLACE INTO load_density_name_stats (run_id, request_type, name, "
            "requests, failures, bytes_in, bytes_out, mean_ms, p50_ms, p90_ms, p95_ms, p99_ms, "
            "max_ms, ok_histogram, fail_histogram) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    for (const auto& n : m.names) {
      stats::Histogram h = n.ok_latency;
      h.merge(n.fail_latency);
      ns.bind(1, run_id)
          .bind(2, n.request_type)
          .bind(3, n.name)
          .bind(4, static_cast<std::int64_t>(n.requests))
          .bind(5, static_cast<std::int64_t>(n.failures))
          .bind(6, static_cast<std::int64_t>(n.bytes_in))
          .bind(7, static_cast<std::int64_t>(n.bytes_out))
          .bind(8, std::round(h.mean() / 1e3) / 1e3)
          .bind(9, ms3(h.percentile(50)))
          .bind(10, ms3(h.percentile(90)))
          .bind(11, ms3(h.percentile(95)))
          .bind(12, ms3(h.percentile(99)))
          .bind(13, ms3(h.max()))
          .bind_blob(14, n.ok_latency.encode())
          .bind_blob(15, n.fail_latency.encode());
      ns.run();
    }
    tx.commit();
  }
  // 2. The records, batch by batch.
  std::int64_t written = 0;
  if (log) {
    Stmt ins(db,
             "INSERT INTO load_density_records (run_id, outcome, method, test_url, name, "
             "status_code, response_time_ms, response_length, error) VALUES (?,?,?,?,?,?,?,?,?)");
    std::unique_ptr<Transaction> tx = std::make_unique<Transaction>(db);
    std::size_t in_batch = 0;
    log->for_each(stats::RecordLog::Filter::kAll, [&](const stats::LoggedRecord& r) {
      const RequestFields f = request_fields(r);
      ins.bind(1, run_id).bind(2, f.outcome).bind(3, f.method).bind(4, f.test_url).bind(5, f.name);
      if (f.status_code.empty()) {
        ins.bind_null(6);
      } else {
        ins.bind(6, f.status_code);
      }
      ins.bind(7, f.response_time_ms).bind(8, static_cast<std::int64_t>(f.response_length));
      if (r.ok()) {
        ins.bind_null(9);
      } else {
        ins.bind(9, f.error);
      }
      ins.run();
      ++written;
      if (++in_batch == options.batch_rows) {
        tx->commit();
        tx = std::make_unique<Transaction>(db);
        in_batch = 0;
      }
      return true;
    });
    tx->commit();
  }
  // 3. Done: the run is complete.
  Transaction tx(db);
  Stmt done(db, "UPDATE load_density_run_stats SET complete = 1, records = ? WHERE run_id = ?");
  done.bind(1, written).bind(2, run_id);
  done.run();
  tx.commit();
  return run_id;
}

Json list_runs(const std::string& database_path, std::int64_t limit) {
  Db db(database_path);
  Stmt s(db,
         "SELECT r.id, r.started_at, r.label, r.metadata_json, s.complete, s.requests, "
         "s.failures, s.duration_s FROM load_density_runs r LEFT JOIN load_density_run_stats s "
         "ON s.run_id = r.id ORDER BY r.id DESC LIMIT ?");
  s.bind(1, limit);
  Json out = Json::array();
  while (s.step()) {
    Json row = {{"id", s.i64(0)},         {"started_at", s.value(1)},
                {"label", s.value(2)},    {"metadata_json", s.value(3)},
                {"complete", nullptr},    {"requests", s.value(5)},
                {"failures", s.value(6)}, {"duration_s", s.value(7)}};
    if (!s.is_null(4)) row["complete"] = s.i64(4) != 0;
    out.push_back(std::move(row));
  }
  return out;
}

Json fetch_run_records(const std::string& database_path, std::int64_t run_id, std::int64_t limit) {
  Db db(database_path);
  if (!run_exists(db, run_id)) {
    throw RunStoreError("run " + std::to_string(run_id) + " is not in '" + database_path + "'",
                        "run_id");
  }
  Stmt s(db,
         "SELECT outcome, method, test_url, name, status_code, response_time_ms, "
         "response_length, error FROM load_density_records WHERE run_id = ? ORDER BY id LIMIT ?");
  s.bind(1, run_id).bind(2, limit < 0 ? std::int64_t{-1} : limit);
  Json out = Json::array();
  while (s.step()) {
    out.push_back({{"outcome", s.value(0)},
                   {"method", s.value(1)},
                   {"test_url", s.value(2)},
                   {"name", s.value(3)},
                   {"status_code", s.value(4)},
                   {"response_time_ms", s.value(5)},
                   {"response_length", s.value(6)},
                   {"error", s.value(7)}});
  }
  return out;
}

Json diff_runs(const std::string& database_path, std::int64_t baseline_run_id,
               std::int64_t current_run_id, double tolerance) {
  Db db(database_path);
  if (!run_exists(db, baseline_run_id)) {
    throw RunStoreError(
        "baseline run " + std::to_string(baseline_run_id) + " is not in '" + database_path + "'",
        "baseline_run_id");
  }
  if (!run_exists(db, current_run_id)) {
    throw RunStoreError(
        "current run " + std::to_string(current_run_id) + " is not in '" + database_path + "'",
        "current_run_id");
  }
  const auto base = run_figures(db, baseline_run_id);
  const auto cur = run_figures(db, current_run_id);
  std::vector<std::string> names;
  for (const auto& [k, v] : base) names.push_back(k);
  for (const auto& [k, v] : cur) {
    if (!base.count(k)) names.push_back(k);
  }
  std::sort(names.begin(), names.end());
  Json per_name = Json::object();
  Json regressions = Json::array();
  static const char* kMetrics[] = {"p50_ms", "p95_ms", "p99_ms", "failure_rate", "mean_ms"};
  for (const auto& name : names) {
    const NameFigures b = base.count(name) ? base.at(name) : NameFigures{};
    const NameFigures c = cur.count(name) ? cur.at(name) : NameFigures{};
    auto pick = [](const NameFigures& f, const std::string& metric) {
      if (metric == "p50_ms") return f.p50_ms;
      if (metric == "p95_ms") return f.p95_ms;
      if (metric == "p99_ms") return f.p99_ms;
      if (metric == "failure_rate") return f.failure_rate;
      return f.mean_ms;
    };
    Json deltas = Json::object();
    Json regressed = Json::array();
    for (const char* metric : kMetrics) {
      const double bv = pick(b, metric), cv = pick(c, metric);
      const double abs = cv - bv;
      const double pct = bv > 0 ? abs / bv : 0.0;
      deltas[metric] = {{"baseline", bv}, {"current", cv}, {"abs", abs}, {"pct", pct}};
      if (pct > tolerance) regressed.push_back(metric);
    }
    per_name[name] = {{"deltas", deltas}};
    if (!regressed.empty()) regressions.push_back({{"name", name}, {"metrics", regressed}});
  }
  const bool has = !regressions.empty();
  return {{"baseline_run_id", baseline_run_id},
          {"current_run_id", current_run_id},
          {"tolerance", tolerance},
          {"per_name", per_name},
          {"regressions", regressions},
          {"has_regressions", has}};
}

void print_diff_table(const Json& diff, std::ostream& out) {
  std::size_t name_w = 20;
  for (auto it = diff["per_name"].begin(); it != diff["per_name"].end(); ++it) {
    name_w = std::max(name_w, std::min<std::size_t>(it.key().size(), 48));
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %-13s %12s %12s %12s %9s  %s\n", static_cast<int>(name_w),
                "name", "metric", "baseline", "current", "change", "change%", "");
  out << "run " << diff["baseline_run_id"].get<std::int64_t>() << " (baseline) vs run "
      << diff["current_run_id"].get<std::int64_t>() << ", tolerance "
      << fixed(diff["tolerance"].get<double>() * 100, 1) << "%\n"
      << line;
  for (auto it = diff["per_name"].begin(); it != diff["per_name"].end(); ++it) {
    std::string name = it.key();
    if (name.size() > name_w) name = name.substr(0, name_w - 3) + "...";
    for (auto d = it.value()["deltas"].begin(); d != it.value()["deltas"].end(); ++d) {
      const double b = d.value()["baseline"], c = d.value()["current"], a = d.value()["abs"],
                   p = d.value()["pct"];
      const bool bad = p > diff["tolerance"].get<double>();
      const int decimals = d.key() == "failure_rate" ? 4 : 3;
      std::snprintf(line, sizeof line, "%-*s %-13s %12s %12s %12s %8s%%  %s\n",
                    static_cast<int>(name_w), name.c_str(), d.key().c_str(),
                    fixed(b, decimals).c_str(), fixed(c, decimals).c_str(),
                    ((a >= 0 ? "+" : "") + fixed(a, decimals)).c_str(),
                    ((p >= 0 ? "+" : "") + fixed(p * 100, 1)).c_str(), bad ? "REGRESSION" : "");
      out << line;
    }
  }
  const auto& regs = diff["regressions"];
  if (regs.empty()) {
    out << "no regressions\n";
  } else {
    out << regs.size() << (regs.size() == 1 ? " name regressed" : " names regressed") << ":";
    for (const auto& r : regs) out << ' ' << r["name"].get<std::string>();
    out << '\n';
  }
}

}  // namespace ld::reports
