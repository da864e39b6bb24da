#include "params/sources.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

#include "loaddensity/core/error.hpp"

namespace ld::params {

std::shared_ptr<DataSource> load_csv_source(const std::string& name, const std::string& path,
                                            bool cycle) {
  std::string data;
  try {
    data = read_input_file(path, limits::kMaxCsvBytes, "CSV file");
  } catch (const ConfigError& e) {
    throw ConfigError("CSV source '" + name + "': " + e.what());
  }
  if (data.rfind("\xEF\xBB\xBF", 0) == 0) data.erase(0, 3);  // UTF-8 BOM

  auto src = std::make_shared<DataSource>();
  src->name = name;
  src->origin = path;
  src->cycle = cycle;
  std::vector<std::vector<std::string>> records;
  std::vector<std::size_t> record_lines;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  std::size_t line = 1, record_line = 1;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_record = [&] {
    end_field();
    if (!(row.size() == 1 && row[0].empty())) {  // skip blank lines
      records.push_back(std::move(row));
      record_lines.push_back(record_line);
    }
    row.clear();
  };
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < data.size() && data[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
      end_record();
      ++line;
      record_line = line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) {
    throw ConfigError("CSV source '" + name + "': " + path + ":" + std::to_string(record_line) +
                      ": unterminated quoted field");
  }
  if (!field.empty() || !row.empty()) end_record();
  if (records.empty()) {
    throw ConfigError("CSV source '" + name + "': " + path + " is empty (a header row is needed)");
  }
  src->columns = std::move(records[0]);
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != src->columns.size()) {
      throw ConfigError("CSV source '" + name + "': " + path + ":" +
                        std::to_string(record_lines[r]) + ": " +
                        std::to_string(records[r].size()) + " fields, the header has " +
                        std::to_string(src->columns.size()));
    }
    src->rows.push_back(std::move(records[r]));
  }
  return src;
}

namespace {

std::shared_ptr<DataSource> load_sqlite(const std::string& name, const std::string& path,
                                        const std::string& query, bool cycle) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    const std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw ConfigError("db source '" + name + "': cannot open SQLite database '" + path +
                      "': " + msg);
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    const std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw ConfigError("db source '" + name + "': query failed on '" + path + "': " + msg);
  }
  auto src = std::make_shared<DataSource>();
  src->name = name;
  src->origin = path;
  src->cycle = cycle;
  const int ncol = sqlite3_column_count(st);
  for (int c = 0; c < ncol; ++c) src->columns.emplace_back(sqlite3_column_name(st, c));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < ncol; ++c) {
      const auto* txt = sqlite3_column_text(st, c);
      row.emplace_back(txt ? reinterpret_cast<const char*>(txt) : "None");
    }
    src->rows.push_back(std::move(row));
  }
  const std::string msg = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (!msg.empty()) throw ConfigError("db source '" + name + "': query failed: " + msg);
  return src;
}

std::shared_ptr<DataSource> load_postgres(const std::string& name, const std::string& conninfo,
                                          const std::string& query, bool cycle) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(conn);
    throw ConfigError("db source '" + name + "': cannot connect to PostgreSQL: " + msg);
  }
  PGresult* res = PQexec(conn, query.c_str());
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::string msg = PQresultErrorMessage(res);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQclear(res);
    PQfinish(conn);
    throw ConfigError("db source '" + name + "': query failed: " + msg);
  }
  auto src = std::make_shared<DataSource>();
  src->name = name;
  src->origin = "postgresql";
  src->cycle = cycle;
  const int ncol = PQnfields(res);
  for (int c = 0; c < ncol; ++c) src->columns.emplace_back(PQfname(res, c));
  for (int r = 0; r < PQntuples(res); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < ncol; ++c) {
      row.emplace_back(PQgetisnull(res, r, c) ? "None" : PQgetvalue(res, r, c));
    }
    src->rows.push_back(std::move(row));
  }
  PQclear(res);
  PQfinish(conn);
  return src;
}

}  // namespace

std::shared_ptr<DataSource> load_db_source(const std::string& name,
                                           const std::string& connection,
                                           const std::string& query, bool cycle) {
  std::string c = connection;
  if (c.rfind("sqlite:///", 0) == 0) return load_sqlite(name, c.substr(10), query, cycle);
  if (c.rfind("sqlite://", 0) == 0) return load_sqlite(name, c.substr(9), query, cycle);
  if (c.rfind("postgresql", 0) == 0 || c.rfind("postgres:", 0) == 0 ||
      c.find("host=") != std::string::npos || c.find("dbname=") != std::string::npos) {
    // SQLAlchemy URLs name a driver ("postgresql+psycopg2://"); libpq does not.
    if (auto plus = c.find('+'); plus != std::string::npos && plus < c.find("://")) {
      c.erase(plus, c.find("://") - plus);
    }
    return load_postgres(name, c, query, cycle);
  }
  if (c.find("://") != std::string::npos) {
    throw ConfigError("db source '" + name + "': unsupported connection '" + connection +
                      "' (use sqlite:///file.db or postgresql://...)");
  }
  return load_sqlite(name, c, query, cycle);
}

}  // namespace ld::params
